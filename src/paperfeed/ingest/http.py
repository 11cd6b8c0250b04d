"""A polite HTTP client for remote sources: one identity, a delay between requests, retries.

It is also a bounded one, since what a remote server sends is input like any other: it asks only
the host of the URL it is given (and any `allowed_hosts`), follows no redirect to another host,
reads at most `max_bytes` of the decoded answer (a small gzip answer can unpack to gigabytes)
and gives up on one request after `deadline_s` however slowly the bytes trickle in.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime

import httpx
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from paperfeed import __version__
from paperfeed.core.errors import Unavailable

log = logging.getLogger(__name__)

USER_AGENT = (
    f"paperfeed/{__version__} (self-hosted paper feed; +https://pypi.org/project/paperfeed)"
)
# Statuses worth asking again: the server is busy or briefly broken, the request was fine.
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 600.0
MAX_BYTES = 64 * 1024 * 1024  # the largest answer read (an OAI-PMH page is a few MB)


class RemoteError(Unavailable):
    """A remote source failed in a way retrying did not fix."""


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.request.url}")
        self.response = response


def retry_after_seconds(
    response: httpx.Response, cap_s: float = MAX_RETRY_AFTER_S
) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), capped; None when absent or bad."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), cap_s)


class PoliteClient:
    """GETs with a minimum delay between requests and retries that honour Retry-After.

    `deadline_s` bounds one request from its first byte sent to its last byte read (default:
    4 x timeout_s); `max_retry_after_s` caps how long a Retry-After is waited out.
    """

    def __init__(
        self,
        *,
        delay_s: float = 3.0,
        timeout_s: float = 60.0,
        retries: int = 5,
        deadline_s: float | None = None,
        max_bytes: int = MAX_BYTES,
        max_retry_after_s: float = MAX_RETRY_AFTER_S,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self.delay_s = delay_s
        self.retries = retries
        self.deadline_s = deadline_s if deadline_s is not None else 4 * timeout_s
        self.max_bytes = max_bytes
        self.max_retry_after_s = max_retry_after_s
        self.allowed_hosts = {host.lower() for host in allowed_hosts}
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"request": [self._check_host]},
        )
        self._last_request = 0.0
        self._asked: set[str] = set()  # hosts of the URLs get() was called with

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get(self, url: str, params: dict | None = None) -> httpx.Response:
        """GET url; retries transient failures; returns any final non-retryable response."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Retryable):
                after = retry_after_seconds(error.response, self.max_retry_after_s)
                if after is not None:
                    return after
            return wait_exponential(multiplier=1, min=1, max=60)(state)

        attempt = retry(
            retry=retry_if_exception(lambda e: isinstance(e, (_Retryable, httpx.TransportError))),
            wait=wait,
            stop=stop_after_attempt(self.retries + 1),
            before_sleep=lambda s: log.info(
                "retrying %s after %s", url, s.outcome.exception() if s.outcome else "?"
            ),
            reraise=True,
        )(self._get_once)
        try:
            return attempt(url, params)
        except _Retryable as error:
            raise RemoteError(f"{error} (gave up after {self.retries + 1} tries)") from None
        except httpx.TransportError as error:
            raise RemoteError(f"cannot reach {url}: {error}") from None
        except httpx.HTTPError as error:  # too many redirects, a body that does not decode
            raise RemoteError(f"cannot read {_short(url)}: {error}") from None

    def _get_once(self, url: str, params: dict | None) -> httpx.Response:
        pause = self._last_request + self.delay_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._asked.add((httpx.URL(url).host or "").lower())
        try:
            response = self._read_bounded(url, params)
        finally:
            self._last_request = time.monotonic()
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(response)
        return response

    def _read_bounded(self, url: str, params: dict | None) -> httpx.Response:
        """The answer, read whole but never past max_bytes (decoded) or deadline_s."""
        started = time.monotonic()
        with self._client.stream("GET", url, params=params) as streamed:
            chunks: list[bytes] = []
            size = 0
            for chunk in streamed.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise RemoteError(
                        f"{streamed.request.url.host} sent more than {self.max_bytes:,} bytes "
                        f"for {_short(url)}; not read further"
                    )
                if time.monotonic() - started > self.deadline_s:
                    raise RemoteError(
                        f"{_short(url)} took longer than {self.deadline_s:.0f} s; gave up"
                    )
                chunks.append(chunk)
            # The body is decoded already: the copy must not claim an encoding or a length.
            headers = [
                (name, value)
                for name, value in streamed.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
            return httpx.Response(
                streamed.status_code,
                headers=headers,
                content=b"".join(chunks),
                request=streamed.request,
            )

    def _check_host(self, request: httpx.Request) -> None:
        host = (request.url.host or "").lower()
        if host not in self._asked and host not in self.allowed_hosts:
            raise RemoteError(
                f"refused to follow a redirect to {host} (only {', '.join(sorted(self._asked))})"
            )


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."
