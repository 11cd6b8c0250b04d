"""The JSON API answers in Hugging Face's shapes, checked against Hugging Face's own answers."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import HF_API_DIR
from fastapi.testclient import TestClient
from support.files import hf_entries, hf_files

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _file(day: str) -> list[dict]:
    return json.loads((HF_API_DIR / f"{day}.json").read_text())


def _ids(entries: list[dict]) -> list[str]:
    return [e["paper"]["id"] for e in entries]


def test_a_day_answers_the_same_entries_in_the_same_order_as_hugging_face(
    client: TestClient,
) -> None:
    theirs = _file("2025-10-03")

    ours = client.get("/api/daily_papers", params={"date": "2025-10-03"}).json()

    assert _ids(ours) == _ids(theirs)  # trending (most upvoted) first, like the saved answer
    for mine, hf in zip(ours, theirs, strict=True):
        assert set(mine) <= set(hf), "no key Hugging Face does not send"
        assert set(mine["paper"]) <= set(hf["paper"])
        paper, hf_paper = mine["paper"], hf["paper"]
        for key in ("id", "title", "summary", "upvotes", "publishedAt", "submittedOnDailyAt",
                    "discussionId", "ai_summary", "ai_keywords", "githubRepo", "githubStars",
                    "projectPage"):  # fmt: skip
            assert paper.get(key) == hf_paper.get(key), key
        assert [a["name"] for a in paper["authors"]] == [a["name"] for a in hf_paper["authors"]]
        assert all(a["hidden"] is False for a in paper["authors"])
        claimed = {a["name"]: a["user"]["user"] for a in hf_paper["authors"] if a.get("user")}
        assert {a["name"]: a["user"]["user"] for a in paper["authors"] if "user" in a} == claimed
        for key in ("title", "thumbnail", "numComments", "isAuthorParticipating"):
            assert mine.get(key) == hf.get(key), key
        assert mine["submittedBy"] == {
            k: hf["submittedBy"][k] for k in ("name", "fullname", "avatarUrl", "type")
        }
        assert paper["submittedOnDailyBy"]["user"] == hf_paper["submittedOnDailyBy"]["user"]
        if "organization" in hf:
            expected = {k: v for k, v in hf["organization"].items() if k != "_id"}
            assert mine["organization"] == paper["organization"] == expected
        else:
            assert "organization" not in mine and "organization" not in paper
        assert TIMESTAMP.match(mine["publishedAt"]) and TIMESTAMP.match(paper["publishedAt"])


def test_newest_first_orders_by_publication_time(client: TestClient) -> None:
    ours = client.get("/api/daily_papers?date=2025-06-10&sort=publishedAt").json()

    published = [e["paper"]["publishedAt"] for e in ours]
    assert published == sorted(published, reverse=True)
    assert sorted(_ids(ours)) == sorted(_ids(_file("2025-06-10")))


def test_without_a_period_the_latest_day_is_answered(client: TestClient) -> None:
    assert _ids(client.get("/api/daily_papers").json()) == _ids(_file("2025-10-09"))


def test_a_week_pages_through_its_entries_most_upvoted_first(client: TestClient) -> None:
    theirs = hf_entries([HF_API_DIR / f"2025-06-{d:02d}.json" for d in range(9, 14)])
    votes = {e["paper"]["id"]: e["paper"]["upvotes"] for e in theirs}

    first = client.get("/api/daily_papers?week=2025-W24&limit=60").json()
    second = client.get("/api/daily_papers?week=2025-W24&limit=60&p=1").json()

    assert len(theirs) == 85
    assert len(first) == 60 and len(second) == 25
    assert sorted(_ids(first + second)) == sorted(votes)
    upvotes = [e["paper"]["upvotes"] for e in first + second]
    assert upvotes == sorted(votes.values(), reverse=True)


def test_a_month_answers_every_entry_of_its_files_once(client: TestClient) -> None:
    theirs = hf_entries(hf_files(HF_API_DIR, "2025-06"))

    ours: list[dict] = []
    for p in range(4):
        ours += client.get(f"/api/daily_papers?month=2025-06&limit=100&p={p}").json()

    assert len(ours) == len(theirs) == 351
    assert sorted(_ids(ours)) == sorted(_ids(theirs))
    assert client.get("/api/daily_papers?month=2025-06&limit=100&p=4").json() == []


def test_the_default_page_size_is_fifty(client: TestClient) -> None:
    assert len(client.get("/api/daily_papers?month=2025-06").json()) == 50


def test_submitter_keeps_only_that_users_entries(client: TestClient) -> None:
    theirs = _file("2025-06-10")
    user, count = Counter(e["submittedBy"]["name"] for e in theirs).most_common(1)[0]

    ours = client.get("/api/daily_papers", params={"date": "2025-06-10", "submitter": user})

    assert len(ours.json()) == count
    assert {e["submittedBy"]["name"] for e in ours.json()} == {user}


def test_a_day_without_a_list_answers_an_empty_list(client: TestClient) -> None:
    assert client.get("/api/daily_papers?date=2025-06-14").json() == []


@pytest.mark.parametrize(
    "query",
    [
        "date=2025-6-1",
        "date=2025-02-30",
        "week=2025-W60",
        "month=2025-13",
        "sort=hot",
        "p=-1",
        "limit=0",
        "limit=101",
        "limit=ten",
        "date=2025-06-10&week=2025-W24",
    ],
)
def test_bad_parameters_are_a_422_json_error(client: TestClient, query: str) -> None:
    response = client.get(f"/api/daily_papers?{query}")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_a_paper_answers_huggingfaces_paper_object(client: TestClient) -> None:
    theirs = _file("2025-06-10")[0]["paper"]

    response = client.get("/api/papers/2506.08007")

    assert response.status_code == 200
    paper = response.json()
    assert set(paper) <= set(theirs)
    assert paper["id"] == "2506.08007"
    assert paper["title"] == theirs["title"] == "Reinforcement Pre-Training"
    assert paper["summary"] == theirs["summary"]
    assert paper["upvotes"] == 97
    assert paper["publishedAt"] == "2025-06-09T17:59:53.000Z"
    assert paper["submittedOnDailyAt"] == theirs["submittedOnDailyAt"]
    assert paper["submittedOnDailyBy"]["user"] == "unilm"
    assert paper["discussionId"] == theirs["discussionId"]
    assert [a["name"] for a in paper["authors"]] == [a["name"] for a in theirs["authors"]]


def test_a_versioned_id_answers_the_paper(client: TestClient) -> None:
    assert client.get("/api/papers/2506.08007v1").json()["id"] == "2506.08007"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/papers/2401.99999", "paper 2401.99999 not found"),
        ("/api/papers/hep-th/9901001", "paper hep-th/9901001 not found"),
        ("/api/papers/not-a-paper", "not an arXiv identifier: 'not-a-paper'"),
        ("/api/no-such-route", "Nothing found at /api/no-such-route"),
    ],
)
def test_unknown_things_are_a_404_json_error(client: TestClient, path: str, error: str) -> None:
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"error": error}


def test_openapi_documents_the_api_in_huggingfaces_field_names(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert {"/api/daily_papers", "/api/papers/{arxiv_id}"} <= set(spec["paths"])
    assert all(path.startswith("/api/") for path in spec["paths"])  # pages stay out of the docs
    schemas = spec["components"]["schemas"]
    assert {"numComments", "isAuthorParticipating", "submittedBy", "paper"} <= set(
        schemas["HfDailyPaper"]["properties"]
    )
    assert {"publishedAt", "discussionId", "githubRepo", "ai_summary"} <= set(
        schemas["HfPaper"]["properties"]
    )
    assert client.get("/docs").status_code == 200
