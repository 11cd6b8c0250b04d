"""Domain types shared by ingest, store, API and templates: one type per concept."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from paperfeed.core.clock import as_utc
from paperfeed.core.errors import Invalid, NotFound
from paperfeed.core.text import storable

# New-style ids (0704.0001 .. 2506.08007) and old-style ids (hep-th/9901001, cs.AI/0101001).
_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
_OLD_ID = re.compile(r"^([a-z\-]{1,20}(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")
_ID_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf|html)/(.+?)(?:\.pdf)?/?$")

MetadataSource = Literal["arxiv", "hf"]
# How a list of papers is ordered: most upvoted first (imported plus local votes), or newest first.
Order = Literal["upvotes", "newest"]
# How a feed is ordered: an Order, or "trending" (the gravity score of paperfeed.rank.trending).
Sort = Literal["upvotes", "trending", "newest"]
# Lengths of the stored unique keys (PostgreSQL enforces them; SQLite would not notice).
NAME_KEY_MAX = 500
ORGANIZATION_NAME_MAX = 200
EMAIL_MAX = 320  # RFC 5321: 64 for the local part, @, 255 for the domain
# ASCII addresses only: the mailer does not speak SMTPUTF8, so none is accepted that it cannot send.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# Every timestamp a domain object carries is aware UTC (naive input is taken to be UTC).
UTCTime = Annotated[datetime, AfterValidator(as_utc)]


class InvalidArxivId(NotFound, ValueError):
    """A string that is not an arXiv identifier (in a URL: nothing is there, so 404)."""


class InvalidEmail(Invalid):
    """A string that is not an email address paperfeed can send to."""


def normalize_email(text: str) -> str:
    """An address as paperfeed keeps it (accounts and digests alike): trimmed, lower case.

    Raises InvalidEmail for anything else, so an account never has an address the digest
    form would refuse.
    """
    email = text.strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL.match(email) or ".." in email:
        raise InvalidEmail(f"{text.strip()[:80]!r} is not an email address")
    return email


class PaperNotFound(NotFound):
    """No paper with this id is stored."""

    def __init__(self, arxiv_id: str) -> None:
        super().__init__(f"paper {arxiv_id} not found")
        self.arxiv_id = arxiv_id


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """Split an arXiv id, `arXiv:` form or abs/pdf URL into (id without version, version)."""
    raw = text.strip()
    if match := _ID_IN_URL.search(raw):
        raw = match.group(1)
    if raw.lower().startswith("arxiv:"):
        raw = raw[6:]
    for pattern in (_NEW_ID, _OLD_ID):
        if match := pattern.match(raw):
            version = int(match.group(2)) if match.group(2) else None
            return match.group(1), version
    raise InvalidArxivId(f"not an arXiv identifier: {text[:80]!r}")


@lru_cache(maxsize=1 << 16)  # bulk imports meet the same authors again and again
def normalize_name(name: str) -> str:
    """The key two spellings of one author's name share: no accents, case or extra spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Run-together author lists make "names" of any length: the key keeps a bounded prefix.
    return " ".join(stripped.casefold().replace(".", ". ").split())[:NAME_KEY_MAX]


# Validation context: `{STORABLE: True}` says no string in the data needs core.text.storable
# (a bulk importer found that out from the raw line, far faster than cleaning every field).
STORABLE = "storable"


class _Record(BaseModel):
    """A record read from a source: its text as every database can store it.

    Remote data may hold NUL (which PostgreSQL refuses: a whole import failed on one), other
    control characters or lone surrogates; core.text.storable drops or replaces them before
    any field is checked.
    """

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get(STORABLE):  # the caller checked the text already
            return data
        return _clean(data) if isinstance(data, dict) else data


def _clean(value: Any) -> Any:
    # Bulk imports run this for every record: strings are the common case, tested first.
    if type(value) is str:
        return storable(value)
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, str):  # a str subclass
        return storable(value)
    return value


class Author(_Record):
    """A paper's author, in the order the paper lists them."""

    name: str
    hf_user: str | None = Field(default=None, description="Hugging Face username who claimed it.")


class Organization(_Record):
    """An organization papers are attributed to (Hugging Face organization data)."""

    name: str = Field(
        min_length=1,
        max_length=ORGANIZATION_NAME_MAX,
        description="Stable short name, e.g. 'ByteDance-Seed'.",
    )
    fullname: str | None = None
    avatar_url: str | None = None


class Submitter(_Record):
    """Who put a paper on a daily list."""

    username: str
    fullname: str | None = None
    avatar_url: str | None = None


# What one record may hold: the database keeps counts as 32-bit integers, and a record of
# absurd size is an attack or a corrupt file, refused with its reason rather than stored
# (a 306 kB .jsonl.gz once held a 300 MB abstract). arXiv's own abstracts stop at 1,920.
COUNT_MAX = 2**31 - 1
Count = Annotated[int, Field(ge=0, le=COUNT_MAX)]
TITLE_MAX, ABSTRACT_MAX, FIELD_MAX = 5_000, 100_000, 20_000
ShortText = Annotated[str, Field(max_length=FIELD_MAX)]


class Paper(_Record):
    """One arXiv paper, keyed by its id without version."""

    arxiv_id: str
    version: Count | None = None
    title: str = Field(max_length=TITLE_MAX)
    abstract: str = Field(default="", max_length=ABSTRACT_MAX)
    authors: list[Author] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="Primary category first.")
    published_at: UTCTime | None = Field(default=None, description="First version submitted.")
    announced_on: date | None = Field(default=None, description="First arXiv listing day.")
    updated_at: UTCTime | None = Field(default=None, description="Latest version submitted.")
    comments: ShortText | None = None
    journal_ref: ShortText | None = None
    doi: ShortText | None = None
    license: ShortText | None = None
    organization: Organization | None = None
    upvotes: Count = 0
    github_repo: ShortText | None = None
    github_stars: Count | None = None
    project_page: ShortText | None = None
    ai_summary: ShortText | None = None
    ai_keywords: list[str] | None = None
    discussion_id: str | None = None
    source: MetadataSource = "arxiv"
    listed_on: date | None = Field(
        default=None, description="Day of the daily listing a Hugging Face record was read from."
    )

    @field_validator("title")
    @classmethod
    def _has_title(cls, value: str) -> str:
        # After the text is cleaned: a title of control characters alone is no title.
        if not value.strip():
            raise ValueError("a paper needs a title")
        return value

    @property
    def primary_category(self) -> str | None:
        return self.categories[0] if self.categories else None

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    @property
    def pdf_url(self) -> str:
        return f"https://arxiv.org/pdf/{self.arxiv_id}"


class DailyEntry(_Record):
    """A paper featured on one day's list."""

    day: date
    paper: Paper
    submitted_by: Submitter | None = None
    submitted_at: UTCTime | None = None
    num_comments: Count = 0
    thumbnail: str | None = None
    is_author_participating: bool = False
