from __future__ import annotations

import datetime as dt
import re
from unittest import mock

from django.core.paginator import Paginator
from django.db import connection
from django.test import RequestFactory, TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notices.models import Notice
from notices.pagination import IndexedPaginator, paginate_notices
from tests.helpers import SHANGHAI, make_notice


class IndexedPaginatorTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        start = dt.datetime(2020, 1, 1, 8, 0, tzinfo=SHANGHAI)
        for index in range(47):
            # Every third notice shares its date with the one before: ties are settled by id.
            day = index - index // 3
            make_notice(
                urlname=f"p-{index}", title=f"第{index}号", date=start + dt.timedelta(days=day)
            )

    def paginator(self, queryset=None, **kwargs) -> IndexedPaginator:
        queryset = queryset if queryset is not None else Notice.objects.for_list()
        return IndexedPaginator(queryset, 3, **kwargs)

    def test_every_page_matches_offset_pagination(self) -> None:
        with mock.patch("notices.pagination.ANCHOR_STRIDE", 5):
            for orphans in (0, 2):
                indexed = self.paginator(orphans=orphans)
                plain = Paginator(Notice.objects.for_list(), 3, orphans=orphans)
                self.assertEqual(indexed.num_pages, plain.num_pages)
                for number in plain.page_range:
                    with self.subTest(orphans=orphans, page=number):
                        self.assertEqual(
                            [n.pk for n in indexed.page(number)], [n.pk for n in plain.page(number)]
                        )

    def test_a_deep_page_is_sought_by_key_not_by_offset(self) -> None:
        with mock.patch("notices.pagination.ANCHOR_STRIDE", 5):
            paginator = self.paginator()
            paginator.page(12)  # computes and caches the count and the anchor
            with CaptureQueriesContext(connection) as queries:
                list(paginator.page(12))
        notice_queries = [q["sql"] for q in queries if 'FROM "notices_notice"' in q["sql"]]
        self.assertEqual(len(notice_queries), 1)
        # Page 12 starts at row 33: the seek lands on row 30, and only 3 rows are skipped.
        self.assertEqual(re.findall(r"OFFSET (\d+)", notice_queries[0]), ["3"])

    def test_other_orders_use_offset(self) -> None:
        with mock.patch("notices.pagination.ANCHOR_STRIDE", 5):
            by_title = Notice.objects.for_list().order_by("title", "id")
            indexed = self.paginator(by_title)
            plain = Paginator(by_title, 3)
            self.assertEqual([n.pk for n in indexed.page(10)], [n.pk for n in plain.page(10)])

    def test_the_count_is_cached_until_the_data_changes(self) -> None:
        request = RequestFactory().get("/")
        self.assertEqual(self.paginator(request=request).count, 47)
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(self.paginator(request=request).count, 47)
        self.assertFalse([q for q in queries if "COUNT" in q["sql"]])
        make_notice(urlname="p-new")
        self.assertEqual(self.paginator(request=RequestFactory().get("/")).count, 48)

    def test_anchors_follow_new_notices(self) -> None:
        with mock.patch("notices.pagination.ANCHOR_STRIDE", 5):
            list(self.paginator().page(10))
            newest = make_notice(urlname="p-newest", date=dt.datetime(2030, 1, 1, tzinfo=SHANGHAI))
            plain = Paginator(Notice.objects.for_list(), 3)
            self.assertEqual(
                [n.pk for n in self.paginator().page(10)], [n.pk for n in plain.page(10)]
            )
            self.assertEqual(self.paginator().page(1)[0].pk, newest.pk)

    def test_bad_page_numbers_give_the_nearest_page(self) -> None:
        for raw, expected in (("abc", 1), ("0", 16), ("999", 16), ("", 1)):
            with self.subTest(page=raw):
                request = RequestFactory().get("/", {"page": raw})
                page = paginate_notices(request, Notice.objects.for_list(), 3)
                self.assertEqual(page.number, expected)

    def test_list_pages_keep_numbered_links(self) -> None:
        response = self.client.get(reverse("notices:list"), {"page": 2})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.context["page"].number, 2)
        self.assertEqual(response.context["page"].paginator.count, 47)
