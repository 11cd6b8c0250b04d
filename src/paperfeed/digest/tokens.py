"""Signed tokens in mailed links: confirm a subscription, change preferences, leave."""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperfeed.core.errors import Invalid

Purpose = Literal["confirm", "preferences", "unsubscribe"]
# Confirmation and preferences links expire (every digest brings a fresh preferences link); a
# link to leave works as long as the mail does, as the law and RFC 8058 expect.
MAX_AGE_S: dict[Purpose, int | None] = {
    "confirm": 7 * 24 * 3600,
    "preferences": 30 * 24 * 3600,
    "unsubscribe": None,
}
_EXPIRED: dict[Purpose, str] = {
    "confirm": "This link has expired; subscribe again to get a new one.",
    "preferences": "This link has expired; use the one in your latest digest, or subscribe "
    "again with your address to get a new one by mail.",
    "unsubscribe": "This link has expired.",
}


def link_subject(purpose: Purpose, email: str, confirmations_sent: int) -> str:
    """What a link names: the address, and for a confirmation which request it confirms.

    So a confirmation link confirms exactly what was asked when it was mailed: a later request
    that changed the subscription mailed a new link, and the old one no longer works.
    """
    return f"{email}#{confirmations_sent}" if purpose == "confirm" else email


class InvalidToken(Invalid):
    """A link token that was altered, is for something else, or has expired."""

    status = 400
    title = "This link does not work"


class LinkSigner:
    """Makes and checks the tokens of one site; a token names a subscription and its address."""

    def __init__(self, secret: str) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret, salt=f"paperfeed.digest.{purpose}")
            for purpose in MAX_AGE_S
        }

    def make(self, purpose: Purpose, subscription_id: int, email: str) -> str:
        return self._serializers[purpose].dumps([subscription_id, _address_tag(email)])

    def read(self, purpose: Purpose, token: str) -> tuple[int, str]:
        """(subscription id, address tag) from a token, or InvalidToken saying what is wrong."""
        try:
            payload = self._serializers[purpose].loads(token, max_age=MAX_AGE_S[purpose])
        except SignatureExpired:
            raise InvalidToken(_EXPIRED[purpose]) from None
        except BadSignature:
            raise InvalidToken("This link is not valid; it may have been cut short.") from None
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not isinstance(payload[0], int)
            or not isinstance(payload[1], str)
        ):
            raise InvalidToken("This link is not valid.")
        return payload[0], payload[1]

    @staticmethod
    def matches(email: str, tag: str) -> bool:
        """Whether a token's address tag is this address (a re-used id would not match)."""
        return secrets.compare_digest(_address_tag(email), tag)


def _address_tag(email: str) -> str:
    """A short hash of the address: links do not show it, yet name it."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]
