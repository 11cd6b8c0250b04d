"""The Hugging Face papers API's JSON shapes, and the one place they are built from domain types.

Field names and nesting follow https://huggingface.co/api/daily_papers and /api/papers/{id},
so clients written for Hugging Face (huggingface_hub.HfApi among them) work unchanged.
Keys whose value paperfeed does not know are left out rather than invented: serialize with
`by_alias=True, exclude_none=True` (FastAPI routes do, through response_model_exclude_none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from paperfeed.domain import Author, DailyEntry, Organization, Paper, Submitter


def format_timestamp(value: datetime) -> str:
    """Hugging Face's timestamp form: UTC, milliseconds, Z — '2025-06-09T17:59:53.000Z'."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


_EXAMPLE_TIME = "2025-06-09T17:59:53.000Z"
HfTimestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [_EXAMPLE_TIME]}),
]


class ApiModel(BaseModel):
    """The base of every JSON API model: camelCase aliases out, either spelling accepted in."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)


class HfUser(ApiModel):
    """A Hugging Face user as nested in a paper (an author's account, submittedOnDailyBy)."""

    user: str = Field(description="Username.")
    fullname: str | None = None
    avatar_url: str | None = Field(default=None, alias="avatarUrl")
    type: Literal["user"] = "user"


class HfSubmitter(ApiModel):
    """Who put a paper on the daily list, as a daily entry's submittedBy (username is 'name')."""

    name: str = Field(description="Username.")
    fullname: str | None = None
    avatar_url: str | None = Field(default=None, alias="avatarUrl")
    type: Literal["user"] = "user"


class HfAuthor(ApiModel):
    name: str
    hidden: bool = False
    user: HfUser | None = Field(default=None, description="The author's claimed account.")


class HfOrganization(ApiModel):
    name: str
    fullname: str | None = None
    avatar: str | None = None


class HfPaper(ApiModel):
    """A paper, as GET /api/papers/{id} returns it and as a daily entry's `paper`."""

    id: str = Field(description="arXiv id without version.")
    authors: list[HfAuthor]
    published_at: HfTimestamp | None = Field(default=None, alias="publishedAt")
    submitted_on_daily_at: HfTimestamp | None = Field(default=None, alias="submittedOnDailyAt")
    title: str
    submitted_on_daily_by: HfUser | None = Field(default=None, alias="submittedOnDailyBy")
    summary: str = Field(description="The abstract.")
    upvotes: int
    discussion_id: str | None = Field(default=None, alias="discussionId")
    ai_summary: str | None = None
    ai_keywords: list[str] | None = None
    github_repo: str | None = Field(default=None, alias="githubRepo")
    github_stars: int | None = Field(default=None, alias="githubStars")
    project_page: str | None = Field(default=None, alias="projectPage")
    organization: HfOrganization | None = None


class HfDailyPaper(ApiModel):
    """One entry of GET /api/daily_papers: a paper featured on a day's list."""

    paper: HfPaper
    published_at: HfTimestamp | None = Field(default=None, alias="publishedAt")
    title: str
    summary: str
    thumbnail: str | None = None
    num_comments: int = Field(alias="numComments")
    submitted_by: HfSubmitter | None = Field(default=None, alias="submittedBy")
    organization: HfOrganization | None = None
    is_author_participating: bool = Field(alias="isAuthorParticipating")


class HfError(ApiModel):
    """The body of every API error."""

    error: str


# OpenAPI `responses` of a route: status -> what that answer holds.
ErrorResponses = dict[int | str, dict[str, Any]]
# Every route that takes a JSON body: FastAPI answers 400 to one it cannot decode at all.
BODY_ERRORS: ErrorResponses = {
    400: {"model": HfError, "description": "The body could not be decoded (not UTF-8 JSON)."}
}


# The builders below take domain objects and build the API's models in one validation each:
# plain dicts first, checked and turned into models by pydantic-core at once. (Checking each
# field in Python was most of a search answer once; model_construct, field by field in Python
# for every author too, was still a fifth of one.)


def hf_paper(paper: Paper, listing: DailyEntry | None = None) -> HfPaper:
    """A paper in Hugging Face's shape; `listing` adds when and by whom it was submitted."""
    return HfPaper.model_validate(_paper(paper, listing))


def hf_daily_paper(entry: DailyEntry) -> HfDailyPaper:
    """A daily listing in Hugging Face's shape."""
    return HfDailyPaper.model_validate(_daily(entry.paper, entry))


def _paper(paper: Paper, listing: DailyEntry | None) -> dict[str, Any]:
    submitter = listing.submitted_by if listing else None
    return {
        "id": paper.arxiv_id,
        "authors": [_author(a) for a in paper.authors],
        "published_at": paper.published_at,
        "submitted_on_daily_at": listing.submitted_at if listing else None,
        "title": paper.title,
        "submitted_on_daily_by": _user(submitter) if submitter else None,
        "summary": paper.abstract,
        "upvotes": paper.upvotes,
        "discussion_id": paper.discussion_id,
        "ai_summary": paper.ai_summary,
        "ai_keywords": paper.ai_keywords,
        "github_repo": paper.github_repo,
        "github_stars": paper.github_stars,
        "project_page": paper.project_page,
        "organization": _organization(paper.organization),
    }


def _daily(paper: Paper, entry: DailyEntry | None) -> dict[str, Any]:
    """A daily entry of `paper` (a paper never listed: as one of its arXiv day, no comments)."""
    submitter = entry.submitted_by if entry else None
    return {
        "paper": _paper(paper, entry),
        "published_at": paper.published_at,
        "title": paper.title,
        "summary": paper.abstract,
        "thumbnail": entry.thumbnail if entry else None,
        "num_comments": entry.num_comments if entry else 0,
        "submitted_by": (
            {
                "name": submitter.username,
                "fullname": submitter.fullname,
                "avatar_url": submitter.avatar_url,
            }
            if submitter
            else None
        ),
        "organization": _organization(paper.organization),
        "is_author_participating": entry.is_author_participating if entry else False,
    }


def _author(author: Author) -> dict[str, Any]:
    return {"name": author.name, "user": {"user": author.hf_user} if author.hf_user else None}


def _user(submitter: Submitter) -> dict[str, Any]:
    return {
        "user": submitter.username,
        "fullname": submitter.fullname,
        "avatar_url": submitter.avatar_url,
    }


def _organization(organization: Organization | None) -> dict[str, Any] | None:
    if organization is None:
        return None
    return {
        "name": organization.name,
        "fullname": organization.fullname,
        "avatar": organization.avatar_url,
    }


class HfSearchResult(HfDailyPaper):
    """One hit of GET /api/papers/search: Hugging Face's daily-entry shape, plus why it matched."""

    why: str | None = Field(
        default=None, description="paperfeed's reason: matched query words, semantic score."
    )


def hf_search_result(paper: Paper, listing: DailyEntry | None, why: str) -> HfSearchResult:
    """A search hit in Hugging Face's shape; `listing` is the paper's first daily listing."""
    return HfSearchResult.model_validate({**_daily(paper, listing), "why": why})


class HfRecommendation(HfDailyPaper):
    """One of GET /api/recommendations: the daily-entry shape, plus why and how strongly."""

    reason: str = Field(
        description="Why it is recommended: 'like «a title you saved»', 'by an author you "
        "follow (name)', 'matches your search «…»', 'in a category you follow (cs.CL)', "
        "'from an organization you follow (name)', or 'trending' for a reader with no signals."
    )
    score: float = Field(description="The recommender's score (higher first; z units).")


def hf_recommendation(
    paper: Paper, listing: DailyEntry | None, reason: str, score: float
) -> HfRecommendation:
    """A recommendation in Hugging Face's daily shape; `listing` is its listing in the span."""
    return HfRecommendation.model_validate(
        {**_daily(paper, listing), "reason": reason, "score": round(score, 4)}
    )
