"""One page of a query: the slice and the total, for every paginated collection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from ..extensions import db


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return -(-self.total // self.per_page)


def paginate(stmt: Select, *, page: int, per_page: int) -> Page:
    """Run `stmt` (already ordered, ending with the id) for one page and count the whole.

    The caller's ORDER BY must end with a unique column so that rows with equal
    sort keys keep their order from one page to the next.
    """
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    offset = (page - 1) * per_page
    if offset >= total:
        # Past the last page: an empty page, without asking the database for a
        # possibly huge OFFSET.
        return Page([], page, per_page, total)
    items = db.session.execute(stmt.limit(per_page).offset(offset)).unique().scalars().all()
    return Page(list(items), page, per_page, total)
