"""Numbered pages that stay fast at any depth (issue 5).

Django's Paginator runs `COUNT(*)` on every request and reads page n with
`OFFSET (n - 1) * size`, which walks every earlier row: at 100,000 notices page 4,000
walks 80,000 rows. `IndexedPaginator` keeps the page numbers and the Paginator API
(templates and views use it unchanged) but

- caches the count per data version (notices/caching.py), and
- reads a deep page by keyset: the (date, id) key of the row just before each block of
  ANCHOR_STRIDE rows is looked up once per data version and cached, then the page is
  `WHERE (date, id) < anchor ORDER BY date DESC, id DESC LIMIT size OFFSET k` with
  k < ANCHOR_STRIDE, a seek on the (date, id) index plus a short walk.

Only the lists' order (newest first: -date, -id) takes the keyset path; any other order
falls back to OFFSET.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from notices.caching import cached, queryset_key

KEYSET_ORDER = ("-date", "-id")
# Rows per anchor: a deep page walks fewer rows than this after its index seek.
ANCHOR_STRIDE = 1000


class IndexedPaginator(Paginator):
    def __init__(
        self,
        object_list: QuerySet,
        per_page: int,
        orphans: int = 0,
        *,
        request: HttpRequest | None = None,
        counter: Callable[[], int] | None = None,
    ):
        super().__init__(object_list, per_page, orphans=orphans)
        self.request = request
        # What counts the rows without a COUNT(*) over them (the stored counts of a list).
        self.counter = counter

    @cached_property
    def key(self) -> str:
        return queryset_key(self.object_list.order_by())

    @cached_property
    def count(self) -> int:
        counter = self.counter or (lambda: Paginator.count.func(self))
        return cached("count", [self.key], counter, request=self.request)

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.rows(bottom, top), number, self)

    def rows(self, bottom: int, top: int) -> QuerySet:
        """object_list[bottom:top], sought by key when the block is deep enough."""
        block = bottom // ANCHOR_STRIDE
        if block == 0 or not self.keyset_ordered():
            return self.object_list[bottom:top]
        anchor = self.anchor(block)
        if anchor is None:  # rows vanished since the count was cached; plain slice is right
            return self.object_list[bottom:top]
        date, pk = anchor
        # `date <= anchor` lets the index bound the scan; the OR settles ties on id.
        after_anchor = Q(date__lte=date) & (Q(date__lt=date) | Q(id__lt=pk))
        skip = bottom - block * ANCHOR_STRIDE
        return self.object_list.filter(after_anchor)[skip : skip + top - bottom]

    def anchor(self, block: int) -> tuple | None:
        """The (date, id) of the last row before `block`, cached per data version."""

        def find() -> tuple | None:
            keys = self.object_list.order_by(*KEYSET_ORDER).values_list("date", "id")
            position = block * ANCHOR_STRIDE - 1
            return next(iter(keys[position : position + 1]), None)

        return cached("anchor", [self.key, block], find, request=self.request)

    def keyset_ordered(self) -> bool:
        query = self.object_list.query
        order = tuple(query.order_by) or (
            tuple(query.get_meta().ordering) if query.default_ordering else ()
        )
        return order == KEYSET_ORDER


def paginate_notices(
    request: HttpRequest,
    notices: QuerySet,
    per_page: int,
    *,
    orphans: int = 0,
    counter: Callable[[], int] | None = None,
) -> Page:
    """The requested page (?page=n; bad or out-of-range numbers give the nearest page)."""
    paginator = IndexedPaginator(
        notices, per_page, orphans=orphans, request=request, counter=counter
    )
    return paginator.get_page(request.GET.get("page"))
