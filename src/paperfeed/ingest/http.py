"""A polite HTTP client for remote sources: one identity, a delay between requests, retries."""

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


class RemoteError(Unavailable):
    """A remote source failed in a way retrying did not fix."""


class _Retryable(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.request.url}")
        self.response = response


def retry_after_seconds(response: httpx.Response) -> float | None:
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
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class PoliteClient:
    """GETs with a minimum delay between requests and retries that honour Retry-After."""

    def __init__(self, *, delay_s: float = 3.0, timeout_s: float = 60.0, retries: int = 5) -> None:
        self.delay_s = delay_s
        self.retries = retries
        self._client = httpx.Client(
            timeout=timeout_s, headers={"User-Agent": USER_AGENT}, follow_redirects=True
        )
        self._last_request = 0.0

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def get(self, url: str, params: dict | None = None) -> httpx.Response:
        """GET url; retries transient failures; returns any final non-retryable response."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _Retryable):
                after = retry_after_seconds(error.response)
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

    def _get_once(self, url: str, params: dict | None) -> httpx.Response:
        pause = self._last_request + self.delay_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        try:
            response = self._client.get(url, params=params)
        finally:
            self._last_request = time.monotonic()
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(response)
        return response
