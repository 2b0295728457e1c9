"""Whole pages for readers (notices.middleware.PageCacheMiddleware) and the detail page's
four queries (issue 13)."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from notices.caching import PAGE_MAX_BYTES
from notices.models import Category, Notice
from tests.helpers import make_notice

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def without_token(content: bytes) -> str:
    return TOKEN.sub("", content.decode())


@override_settings(NOTICES_PAGE_CACHE=True)
class PageCacheTests(TestCase):
    def setUp(self) -> None:
        self.notice = make_notice(urlname="cached", title="关于寒假安排的通知")
        self.notice.tags.add("寒假")
        self.pages = [reverse("notices:list"), self.notice.get_absolute_url()]

    def test_the_second_view_is_the_stored_page_after_one_query(self) -> None:
        for url in self.pages:
            with self.subTest(url=url):
                made = self.client.get(url)
                self.assertIsNotNone(made.context)
                with self.assertNumQueries(1):  # the data version
                    stored = self.client.get(url)
                self.assertIsNone(stored.context)  # no view ran
                self.assertEqual(without_token(stored.content), without_token(made.content))
                self.assertEqual(stored["Content-Type"], made["Content-Type"])

    def test_a_write_shows_at_once(self) -> None:
        for url in self.pages:
            self.client.get(url)
        self.notice.title = "关于暑假安排的通知"
        self.notice.save()  # bumps the data version, as every write does
        for url in self.pages:
            with self.subTest(url=url):
                self.assertContains(self.client.get(url), "关于暑假安排的通知")

    def test_each_reader_gets_a_token_that_passes_the_csrf_check(self) -> None:
        url = self.pages[0]
        Client().get(url)  # stored by another reader
        for reader in (Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)):
            response = reader.get(url)
            self.assertIsNone(response.context)
            self.assertIn(settings.CSRF_COOKIE_NAME, response.cookies)
            token = TOKEN.search(response.content.decode()).group(1)
            switched = reader.post(
                reverse("set_language"),
                {"language": "en", "next": "/", "csrfmiddlewaretoken": token},
            )
            self.assertEqual(switched.status_code, 302)

    def test_a_stored_detail_page_still_answers_304(self) -> None:
        url = self.notice.get_absolute_url()
        etag = self.client.get(url)["ETag"]
        self.client.get(url)
        response = self.client.get(url, headers={"if-none-match": etag})
        self.assertEqual(response.status_code, 304)

    def test_languages_params_and_formats_are_kept_apart(self) -> None:
        url = self.pages[0]
        self.client.get(url)
        self.assertIsNone(self.client.get(url + "?utm_source=x").context)  # not read: same page
        self.assertIsNotNone(self.client.get(url + "?page=1").context)
        english = self.client.get(url, headers={"accept-language": "en"})
        self.assertIsNotNone(english.context)
        self.assertEqual(english["Content-Language"], "en")
        self.assertIsNotNone(self.client.get(url + "?format=json").json())
        self.assertIsNotNone(self.client.get(url + "?format=json").json())

    def test_staff_with_a_session_get_pages_made_for_them(self) -> None:
        url = self.pages[0]
        self.client.get(url)
        self.client.cookies[settings.SESSION_COOKIE_NAME] = "some-session"
        self.assertIsNotNone(self.client.get(url).context)

    def test_very_large_pages_are_made_each_time(self) -> None:
        url = make_notice(urlname="large", body="长" * PAGE_MAX_BYTES).get_absolute_url()
        self.client.get(url)
        self.assertIsNotNone(self.client.get(url).context)

    @override_settings(NOTICES_PAGE_CACHE=False)
    def test_it_can_be_turned_off(self) -> None:
        url = self.pages[0]
        self.client.get(url)
        self.assertIsNotNone(self.client.get(url).context)


class ListEntryTests(TestCase):
    """A list's entries come from fragments kept per notice, under what each shows."""

    def setUp(self) -> None:
        self.category = Category.objects.create(name="研究生院", slug="grad", path="grad")
        self.notices = [make_notice(urlname=f"entry-{day}", site="青岚大学") for day in (1, 2)]
        for notice in self.notices:
            notice.tags.add("寒假")
            notice.categories.add(self.category)
        self.url = reverse("notices:list")

    def entries_made(self) -> int:
        response = self.client.get(self.url)
        return [t.name for t in response.templates].count("includes/notice_item.html")

    def test_a_write_makes_again_only_the_entries_it_changed(self) -> None:
        self.assertEqual(self.entries_made(), 2)
        self.notices[0].title = "关于暑假安排的通知"
        self.notices[0].save()
        self.assertEqual(self.entries_made(), 1)
        self.assertContains(self.client.get(self.url), "关于暑假安排的通知")

    def test_renamed_tags_and_categories_show_at_once(self) -> None:
        self.client.get(self.url)
        tag = self.notices[0].tags.get()
        tag.name = "暑假"
        tag.save()
        self.category.name = "教务处"
        self.category.save()
        response = self.client.get(self.url)
        self.assertContains(response, ">暑假</a>", count=2)
        self.assertContains(response, ">教务处</a>", count=2)
        self.assertNotContains(response, ">寒假</a>")


class DetailQueriesTests(TestCase):
    def setUp(self) -> None:
        root = Category.objects.create(name="qinglan.edu.cn", slug="qinglan-edu-cn")
        root.fill_path()
        root.save()
        self.category = Category(name="研究生院", parent=root)
        self.category.fill_path()
        self.category.save()
        self.other = Category.objects.create(name="其他", slug="other", path="other")

    def add(self, name: str, day: int, *, tags=(), category=None, site="青岚大学") -> Notice:
        notice = make_notice(urlname=name, site=site, date=dt.datetime(2021, 1, day, tzinfo=dt.UTC))
        notice.tags.add(*tags)
        if category:
            notice.categories.add(category)
        return notice

    def related(self, notice: Notice) -> list[str]:
        response = self.client.get(notice.get_absolute_url())
        return [item.urlname for item in response.context["related"]]

    def test_the_page_asks_four_times_with_tags_categories_and_neighbours(self) -> None:
        notice = self.add("middle", 10, tags=["寒假", "通知"], category=self.category)
        for day in range(1, 9):
            self.add(f"other-{day}", day, tags=["寒假"], category=self.category)
        self.client.get(notice.get_absolute_url())  # the category trails, once per version
        with self.assertNumQueries(2):  # the notice's part of the page, kept for this version
            self.client.get(notice.get_absolute_url())
        with self.assertNumQueries(4):  # made each time: a search's highlighting is not kept
            response = self.client.get(notice.get_absolute_url() + "?highlight=寒假")
        self.assertEqual(response.context["older"].urlname, "other-8")
        self.assertIsNone(response.context["newer"])
        self.assertEqual([tag.name for tag in response.context["tags"]], ["寒假", "通知"])
        [category] = response.context["categories"]
        self.assertEqual(category.full_label, "研究生院")  # the domain stands for its only child
        self.assertContains(response, 'href="/tags/%E5%AF%92%E5%81%87/"')

    def test_related_notices_fill_up_from_the_category_then_the_site(self) -> None:
        notice = self.add("lonely", 10, category=self.category)
        self.add("same-category-old", 2, category=self.category, site="别处")
        self.add("same-category-new", 3, category=self.category, site="别处")
        self.add("same-site", 4, category=self.other)
        self.add("elsewhere", 5, category=self.other, site="别处")
        self.assertEqual(
            self.related(notice), ["same-category-new", "same-category-old", "same-site"]
        )

    def test_shared_tags_come_first_then_category_site_and_date(self) -> None:
        notice = self.add("tagged", 10, tags=["a", "b"], category=self.category)
        self.add("both-tags", 1, tags=["a", "b"], category=self.other, site="别处")
        self.add("one-tag-same-category", 2, tags=["a"], category=self.category, site="别处")
        self.add("one-tag-same-site", 3, tags=["b"], category=self.other)
        self.add("one-tag-old", 4, tags=["b"], category=self.other, site="别处")
        self.add("one-tag-new", 5, tags=["a"], category=self.other, site="别处")
        self.add("no-tag-same-category", 6, category=self.category)
        self.assertEqual(
            self.related(notice),
            [
                "both-tags",
                "one-tag-same-category",
                "one-tag-same-site",
                "one-tag-new",
                "one-tag-old",
            ],
        )

    def test_a_few_tagged_notices_are_filled_up_without_repeats(self) -> None:
        notice = self.add("tagged", 10, tags=["rare"], category=self.category)
        self.add("rare-too", 1, tags=["rare"], category=self.category)
        self.add("same-category", 2, category=self.category)
        self.assertEqual(self.related(notice), ["rare-too", "same-category"])
