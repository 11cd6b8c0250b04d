"""Who a paper's links belong to: the owners of the code and project pages its abstract names.

Many abstracts end with "Code is available at https://github.com/<owner>/<repo>" or a project
page "<owner>.github.io/...". The owner (a user or an organisation: a lab keeps its own) is
content like any word, and survives the removal of author names, but the word space splits a
URL into tokens ("github", "com", then the owner's pieces) and misses what ties them together.
`owners` reads them whole:

- github.com/<owner>, gitlab.com/<owner>, huggingface.co/<owner> (also under datasets/, spaces/,
  collections/), hf.co/<owner>, and <owner>.github.io (the same namespace as github.com/<owner>)
  give "github:<owner>" (gitlab:, hf:), lower-cased;
- any other address gives its host without "www." (a lab's own site, e.g. "vcai.mpi-inf.mpg.de");
- hosts that anyone uses (DOI, video, file and link-shortening services, anonymous review
  mirrors, arXiv itself) give nothing.
"""

from __future__ import annotations

import re
from functools import lru_cache

_URL = re.compile(
    r"(?:https?://)?(?:www\.)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(/[^\s)\]}>,;\"']*)?",
    re.IGNORECASE,
)
_FORGES = {"github.com": "github", "gitlab.com": "gitlab", "huggingface.co": "hf", "hf.co": "hf"}
_HF_KINDS = {"datasets", "spaces", "collections", "models"}
_NOT_OWNERS = {  # paths under a forge that name no owner
    "orgs", "users", "features", "topics", "about", "pricing", "papers", "docs", "blog", "search",
}  # fmt: skip
_COMMON_HOSTS = {
    "arxiv.org", "doi.org", "dx.doi.org", "youtube.com", "youtu.be", "vimeo.com", "bit.ly",
    "tinyurl.com", "aka.ms", "goo.gl", "drive.google.com", "docs.google.com", "google.com",
    "sites.google.com", "zenodo.org", "kaggle.com", "pypi.org", "osf.io", "figshare.com",
    "anonymous.4open.science", "4open.science", "openreview.net", "dropbox.com", "live.com",
    "codalab.org", "codabench.org", "paperswithcode.com", "x.com", "twitter.com", "medium.com",
    "notion.site", "netlify.app", "vercel.app", "github.io", "gitee.com", "bitbucket.org",
    "npmjs.com", "readthedocs.io", "readthedocs.org", "wikipedia.org",
}  # fmt: skip
# without a scheme, a host counts only with a path and one of these endings
_TOP_LEVEL = re.compile(r"\.(com|org|net|io|ai|edu|app|dev|site|page|science|co|info|me)$")


@lru_cache(maxsize=20_000)  # a reader's liked abstracts are read again at each request
def owners(text: str) -> frozenset[str]:
    """The link owners named in `text` (see the module docstring), normalized."""
    if "/" not in text and "www." not in text and ".io" not in text:
        return frozenset()
    found: set[str] = set()
    for word in text.lower().split():  # only words that can hold an address are searched
        if "." in word and ("/" in word or "www." in word or ".github.io" in word):
            found |= _owners_in(word)
    return frozenset(found)


def shown(owner: str) -> str:
    """An owner as a reader would write it: "github.com/<owner>", or the host."""
    forge, _colon, name = owner.partition(":")
    site = {"github": "github.com", "gitlab": "gitlab.com", "hf": "huggingface.co"}.get(forge)
    return f"{site}/{name}" if site and name else owner


def _owners_in(word: str) -> set[str]:
    found: set[str] = set()
    for match in _URL.finditer(word):
        host, path = match.group(1), match.group(2) or ""
        explicit = match.group(0).startswith(("http", "www."))
        if not (explicit or host.endswith(".github.io") or (path and _TOP_LEVEL.search(host))):
            continue  # "e.g.", "Qwen2.5-VL", "1.5B/7B": not addresses
        if host.endswith(".github.io"):
            name = host[: -len(".github.io")].split(".")[-1]
            if name:
                found.add(f"github:{name}")
            continue
        forge = _FORGES.get(host)
        if forge is not None:
            parts = [p for p in path.split("/") if p]
            if forge == "hf" and parts and parts[0] in _HF_KINDS:
                parts = parts[1:]
            if parts and parts[0] not in _NOT_OWNERS:
                name = parts[0].removesuffix(".git").rstrip(".")
                if name:
                    found.add(f"{forge}:{name}")
            continue
        if host in _COMMON_HOSTS or any(host.endswith("." + common) for common in _COMMON_HOSTS):
            continue
        found.add(host)
    return found
