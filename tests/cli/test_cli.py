"""The command line: clear errors, exit statuses, structured logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paperfeed.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )


def test_an_unreachable_oai_server_is_one_clear_line_and_status_1() -> None:
    result = _cli(
        "ingest", "oai", "--from", "2025-06-01", "--url", "http://127.0.0.1:9/oai",
        PAPERFEED_HTTP_RETRIES="1", PAPERFEED_LOG_LEVEL="info",
    )  # fmt: skip

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach http://127.0.0.1:9/oai")
    assert "resumes" in lines[-1]
    logs = [json.loads(line) for line in lines[:-1]]  # every log line is a JSON object
    retries = [log for log in logs if log["logger"] == "paperfeed.ingest.http"]
    assert retries and retries[0]["level"] == "INFO" and "retrying" in retries[0]["message"]


def test_logs_are_quiet_by_default() -> None:
    result = _cli("ingest", "oai", "--from", "2025-06-01", "--url", "http://127.0.0.1:9/oai",
                  PAPERFEED_HTTP_RETRIES="1")  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # the error alone


def test_bad_option_values_are_usage_errors() -> None:
    result = _cli("ingest", "oai", "--from", "yesterday")

    assert result.returncode == 2
    assert "--from must be a date YYYY-MM-DD, not 'yesterday'" in result.stderr
