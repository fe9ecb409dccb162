"""Reading a list endpoint in every page: the server answers at most PAGE_SIZE items per call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

PAGE_SIZE = 200  # the server refuses a larger `limit` (422)


def chunks(items: Sequence[T], size: int = PAGE_SIZE) -> Iterator[Sequence[T]]:
    """`items` in order, `size` at a time: one filtered read per chunk, never one per item."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def read_pages(
    read_page: Callable[[int, int], Awaitable[list[T]]], limit: int | None = None
) -> list[T]:
    """`read_page(limit, offset)` page after page until a short page or `limit` items."""
    found: list[T] = []
    while limit is None or len(found) < limit:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(found))
        page = await read_page(size, len(found))
        found.extend(page)
        if len(page) < size:
            break
    return found
