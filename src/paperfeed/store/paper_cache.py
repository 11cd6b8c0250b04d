"""Stored papers kept per process while the site version stands: search reads its hits from here.

A page of search hits needs each paper with its authors, organization and first daily listing:
two queries and a few hundred rows, a fifth of a search's time; a week's feed reads a thousand
authors. Varied queries and periods keep showing the same papers, so each process keeps the
papers it read (one cache per open database), under the site version they were read at.
Every public write on any node (votes, comments, imports, edits) raises that version in the
database (store/site_version.py); each use reads it first, and a new number empties the cache,
so nothing read before a write is served after it, whichever node wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date

from cachetools import LRUCache
from sqlalchemy.orm import Session

from paperfeed.domain import DailyEntry, Paper
from paperfeed.store import reader, site_version

MAX_PAPERS = 20_000  # papers kept per process (least recently used go first); the site's
# workers keep settings.paper_cache_papers


class PaperCache:
    """Papers and their first daily listings by id, as read at one site version."""

    def __init__(self, max_papers: int = MAX_PAPERS) -> None:
        self.max_papers = max_papers
        self._lock = threading.Lock()
        self._version: int | None = None
        self._kept: LRUCache[str, tuple[Paper, DailyEntry | None]] = LRUCache(max_papers)

    def at(self, session: Session) -> CachedPapers:
        """The cache as of the site version `session` reads now (one read by primary key)."""
        # Read before any row: rows read after it are at least as new as this version.
        version = site_version.read(session).number
        with self._lock:
            if version != self._version:
                self._kept.clear()
                self._version = version
        return CachedPapers(self, session, version)

    def _get(self, ids: Sequence[str]) -> dict[str, tuple[Paper, DailyEntry | None]]:
        with self._lock:
            return {i: self._kept[i] for i in ids if i in self._kept}

    def _put(self, version: int, read: dict[str, tuple[Paper, DailyEntry | None]]) -> None:
        with self._lock:
            if self._version == version:  # else a newer version emptied it meanwhile
                self._kept.update(read)


class CachedPapers:
    """One use of the cache, at the version read when it began."""

    def __init__(self, cache: PaperCache, session: Session, version: int) -> None:
        self._cache = cache
        self._session = session
        self._version = version

    def papers(self, ids: Sequence[str]) -> tuple[dict[str, Paper], dict[str, DailyEntry]]:
        """The stored papers of `ids` (as `reader.load_papers`), and each one's first daily
        listing for those featured (as `reader.first_listings`); the missing ones read in one
        query (and one for their authors) and kept."""
        wanted = list(dict.fromkeys(ids))
        found = self._cache._get(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            papers, listings = reader.papers_listed_in(self._session, missing, date.min, date.max)
            read = {i: (paper, listings.get(i)) for i, paper in papers.items()}
            self._cache._put(self._version, read)
            found.update(read)
        kept = [(i, found[i]) for i in wanted if i in found]
        return (
            {i: paper for i, (paper, _listing) in kept},
            {i: listing for i, (_paper, listing) in kept if listing is not None},
        )

    def load(self, ids: Sequence[str]) -> dict[str, Paper]:
        """The stored papers of `ids`, as `reader.load_papers` returns them."""
        return self.papers(ids)[0]

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        """The titles of the stored papers of `ids`: those kept from here, the others read in
        one lean query (as `reader.titles_of`; not kept, being titles alone)."""
        wanted = list(dict.fromkeys(ids))
        titles = {i: paper.title for i, (paper, _listing) in self._cache._get(wanted).items()}
        missing = [i for i in wanted if i not in titles]
        if missing:
            titles.update(reader.titles_of(self._session, missing))
        return titles
