"""Paging arithmetic shared by every paginated list: how many pages, where a page starts."""

from __future__ import annotations


def page_count(total: int, page_size: int) -> int:
    """The pages `total` items fill at `page_size` a page; an empty list still has one."""
    return max(1, -(-total // page_size))


def page_offset(page: int, page_size: int) -> int:
    """The index of the first item on `page` (pages count from 1)."""
    return (max(page, 1) - 1) * page_size
