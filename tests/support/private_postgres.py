"""A PostgreSQL server of a test's own (initdb in a temporary folder), so it may be restarted."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# Debian's postgresql package (.ci/run installs it): the newest version installed, as .ci/run picks.
_INSTALLED = sorted(
    Path("/usr/lib/postgresql").glob("*/bin/initdb"),
    key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
)
BIN = _INSTALLED[-1].parent if _INSTALLED else None
OS_USER = "postgres"


def unavailable() -> str | None:
    """Why a private server cannot be started here, or None when it can."""
    if BIN is None:
        return "no initdb under /usr/lib/postgresql/*/bin (Debian's postgresql package)"
    if os.geteuid() != 0:
        return "starting a private PostgreSQL server needs root (to run it as the postgres user)"
    if shutil.which("runuser") is None:
        return "runuser (util-linux) is not installed"
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return f"there is no {OS_USER!r} OS user (Debian's postgresql package makes it)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivatePostgres:
    """A server on a free loopback port, password login on 127.0.0.1 only, its socket and data
    in one temporary folder owned by the postgres OS user. `close()` stops it and removes all."""

    def __init__(self) -> None:
        assert BIN is not None
        self.base = Path(tempfile.mkdtemp(prefix="paperfeed-pg-"))
        shutil.chown(self.base, user=OS_USER)
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = _free_port()
        password = secrets.token_hex(16)
        self.url = f"postgresql+psycopg://postgres:{password}@127.0.0.1:{self.port}/postgres"
        try:
            pwfile = self.base / "pwfile"
            pwfile.write_text(password + "\n")
            shutil.chown(pwfile, user=OS_USER)
            self._as_postgres(
                "initdb", "-D", str(self.data), "-U", "postgres", f"--pwfile={pwfile}",
                "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
            pwfile.unlink()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.base}'\n"
                )
            self.start()
        except BaseException:
            self.close()
            raise

    def _as_postgres(self, program: str, *args: str) -> str:
        assert BIN is not None
        done = subprocess.run(
            ["runuser", "-u", OS_USER, "--", str(BIN / program), *args],
            cwd=self.base, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} {args}: {done.stdout}{done.stderr}\n{log}")
        return done.stdout

    def _pg_ctl(self, *args: str) -> str:
        return self._as_postgres("pg_ctl", "-D", str(self.data), "-l", str(self.log), *args)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start", "-w", "-t", "60")

    def stop(self, mode: str = "fast") -> None:
        """Stop: "fast" (clients cut off, then a checkpoint) or "immediate" (as if it crashed)."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        """Stop it and start it again, waiting until it accepts connections."""
        self._pg_ctl("restart", "-w", "-t", "60", "-m", mode)

    def running(self) -> bool:
        assert BIN is not None
        status = subprocess.run(
            ["runuser", "-u", OS_USER, "--", str(BIN / "pg_ctl"), "-D", str(self.data), "status"],
            cwd=self.base, capture_output=True, timeout=30,
        )  # fmt: skip
        return status.returncode == 0

    def close(self) -> None:
        """Stop the server if it runs (at once: nothing in it is kept), then remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
