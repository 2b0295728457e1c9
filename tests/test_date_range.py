"""The date-range filter (?since=&until=) shared by list pages and search results."""

from __future__ import annotations

import datetime as dt

from django.test import TestCase
from django.urls import reverse

from tests.helpers import SHANGHAI, make_notice


class DateRangeTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        # Just before and just after midnight in Shanghai: the range is in the site's time zone.
        make_notice(
            urlname="dec",
            title="十二月招生通知",
            date=dt.datetime(2022, 12, 31, 23, 59, tzinfo=SHANGHAI),
        )
        make_notice(
            urlname="jan", title="一月招生通知", date=dt.datetime(2023, 1, 1, 0, 1, tzinfo=SHANGHAI)
        )
        make_notice(
            urlname="mar",
            title="三月招生通知",
            date=dt.datetime(2023, 3, 31, 23, 0, tzinfo=SHANGHAI),
        )
        make_notice(
            urlname="apr", title="四月招生通知", date=dt.datetime(2023, 4, 1, 8, 0, tzinfo=SHANGHAI)
        )

    def urlnames(self, url: str) -> list[str]:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return sorted(n.urlname for n in response.context["page"].object_list)

    def test_the_list_keeps_both_ends_of_the_range(self) -> None:
        url = reverse("notices:list") + "?since=2023-01-01&until=2023-03-31"
        self.assertEqual(self.urlnames(url), ["jan", "mar"])

    def test_open_ended_ranges(self) -> None:
        self.assertEqual(
            self.urlnames(reverse("notices:list") + "?since=2023-03-01"), ["apr", "mar"]
        )
        self.assertEqual(self.urlnames(reverse("notices:list") + "?until=2022-12-31"), ["dec"])

    def test_search_results_take_the_range(self) -> None:
        url = reverse("notices:search") + "?q=招生&since=2023-01-01&until=2023-03-31"
        self.assertEqual(self.urlnames(url), ["jan", "mar"])

    def test_the_range_is_a_removable_filter(self) -> None:
        response = self.client.get(reverse("notices:list") + "?since=2023-01-01")
        self.assertContains(response, "自 2023年1月1日")
        # The chip removes the range: back to the unfiltered list.
        self.assertContains(response, '<a class="chip" href="/"')

    def test_a_malformed_date_is_404_not_500(self) -> None:
        for value in ["2023-13-01", "yesterday", "2023-02-30"]:
            with self.subTest(value=value):
                response = self.client.get(reverse("notices:list") + f"?since={value}")
                self.assertEqual(response.status_code, 404)
