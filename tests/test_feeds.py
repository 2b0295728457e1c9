"""Atom/RSS feeds and sitemap.xml, read with a real XML parser."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from notices.importing import import_archive
from notices.models import DataVersion, Notice
from tests.helpers import SHANGHAI, attributes, parse_html, write_document
from tests.test_views_reading import add_notice, build_reading_archive, when

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class FeedTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()

    def parse(self, url: str) -> ET.Element:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200, url)
        return ET.fromstring(response.content)

    def atom_entries(self, url: str) -> list[dict[str, object]]:
        root = self.parse(url)
        self.assertEqual(root.tag, f"{ATOM}feed")
        entries = []
        for entry in root.findall(f"{ATOM}entry"):
            links = {link.get("rel"): link.get("href") for link in entry.findall(f"{ATOM}link")}
            entries.append(
                {
                    "title": entry.findtext(f"{ATOM}title"),
                    "links": links,
                    "summary": entry.findtext(f"{ATOM}summary") or "",
                    "categories": [c.get("term") for c in entry.findall(f"{ATOM}category")],
                }
            )
        return entries

    def rss_items(self, url: str) -> list[dict[str, str]]:
        root = self.parse(url)
        self.assertEqual(root.tag, "rss")
        return [
            {
                "title": item.findtext("title") or "",
                "link": item.findtext("link") or "",
                "description": item.findtext("description") or "",
            }
            for item in root.iter("item")
        ]


class FeedTests(FeedTestCase):
    def test_the_site_atom_feed_lists_newest_notices_with_their_source(self) -> None:
        entries = self.atom_entries(reverse("notices:feed-atom"))
        self.assertEqual(len(entries), 6)
        self.assertEqual(entries[0]["title"], "关于2023年寒假安排的通知")
        admission = next(e for e in entries if e["title"] == "2023年硕士研究生招生简章")
        links = admission["links"]
        self.assertEqual(
            links["alternate"], "http://testserver" + self.notices["admission"].get_absolute_url()
        )
        self.assertEqual(links["via"], self.notices["admission"].source_url)
        self.assertIn(self.notices["admission"].source_url, admission["summary"])
        self.assertEqual(set(admission["categories"]), {"研究生", "招生", "通知"})

    def test_the_rss_feed_has_the_same_items(self) -> None:
        items = self.rss_items(reverse("notices:feed-rss"))
        self.assertEqual(
            [i["title"] for i in items][:2], ["关于2023年寒假安排的通知", "2023年清明节放假通知"]
        )
        self.assertTrue(items[0]["link"].endswith(self.notices["winter23"].get_absolute_url()))
        self.assertIn("查看原文", items[0]["description"])

    def test_category_tag_and_site_feeds_hold_only_their_notices(self) -> None:
        cases = {
            reverse("notices:category-atom", args=["blgc-edu-cn/北岭工程大学/研究生院"]): {
                "2023年硕士研究生招生简章", "关于2023年春季学位论文答辩的通知"},
            reverse("notices:tag-atom", args=["寒假"]): {
                "关于2022年寒假安排的通知", "关于2023年寒假安排的通知"},
            reverse("notices:site-atom", args=["北岭工程大学"]): {
                "2023年硕士研究生招生简章", "关于2023年春季学位论文答辩的通知",
                "2023年清明节放假通知"},
        }  # fmt: skip
        for url, titles in cases.items():
            with self.subTest(url=url):
                self.assertEqual({e["title"] for e in self.atom_entries(url)}, titles)
                rss_url = url.replace("atom.xml", "rss.xml")
                self.assertEqual({i["title"] for i in self.rss_items(rss_url)}, titles)

    def test_the_site_feed_follows_list_filters(self) -> None:
        url = reverse("notices:feed-atom") + "?tag=通知&year=2022"
        titles = [entry["title"] for entry in self.atom_entries(url)]
        self.assertEqual(titles, ["关于期末考试安排的通知", "关于2022年寒假安排的通知"])

    def test_feeds_of_unknown_things_are_404(self) -> None:
        for url in [
            reverse("notices:category-atom", args=["nope"]),
            reverse("notices:tag-rss", args=["没有"]),
            reverse("notices:site-atom", args=["没有"]),
            reverse("notices:feed-atom") + "?year=abc",
        ]:
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)

    def test_a_search_feed_for_a_query_with_control_characters_is_still_xml(self) -> None:
        # XML 1.0 cannot hold C0 controls: the feed's title quoted them and answered 500.
        for feed in ("notices:search-atom", "notices:search-rss"):
            with self.subTest(feed=feed):
                root = self.parse(reverse(feed) + "?q=" + quote("0\x1f0 通\x1f知"))
                self.assertIn("0 通知", ET.tostring(root, encoding="unicode"))

    def test_hostile_titles_are_escaped_and_bodies_sanitised(self) -> None:
        payload = '<script>alert("x")</script>&<b>'
        add_notice(
            "hostile", f"标题{payload}", when(2030, 1, 1),
            body=f"正文{payload}<img src=x onerror=alert(1)>", tags=("通知",),
        )  # fmt: skip
        for url in [reverse("notices:feed-atom"), reverse("notices:feed-rss")]:
            with self.subTest(url=url):
                root = self.parse(url)  # parses: the XML stays well-formed
                titles = [el.text for el in root.iter() if el.tag in ("title", f"{ATOM}title")]
                self.assertIn(f"标题{payload}", titles)  # text, not markup
                bodies = " ".join(
                    el.text or "" for el in root.iter()
                    if el.tag in ("description", f"{ATOM}summary")
                )  # fmt: skip
                self.assertIn("正文", bodies)
                self.assertNotIn("<script", bodies)
                self.assertNotIn("onerror", bodies)

    def test_every_list_page_announces_its_feeds(self) -> None:
        pages = {
            reverse("notices:list"): reverse("notices:feed-atom"),
            reverse("notices:category", args=["blgc-edu-cn"]): reverse(
                "notices:category-atom", args=["blgc-edu-cn"]
            ),
            reverse("notices:tag", args=["寒假"]): reverse("notices:tag-atom", args=["寒假"]),
            reverse("notices:site", args=["青岚大学"]): reverse(
                "notices:site-atom", args=["青岚大学"]
            ),
        }
        for url, feed in pages.items():
            with self.subTest(url=url):
                page = parse_html(self.client.get(url).content.decode())
                atom = attributes(page, "link", rel="alternate", type="application/atom+xml")
                rss = attributes(page, "link", rel="alternate", type="application/rss+xml")
                self.assertEqual(atom[0]["href"], feed)
                self.assertEqual(rss[0]["href"], feed.replace("atom.xml", "rss.xml"))
                self.assertTrue(self.atom_entries(atom[0]["href"]))


class SitemapTests(FeedTestCase):
    def locations(self, url: str, element: str) -> dict[str, ET.Element]:
        root = self.parse(url)
        return {node.findtext(f"{SITEMAP}loc"): node for node in root.iter(f"{SITEMAP}{element}")}

    def test_the_sitemap_lists_notices_with_lastmod_categories_tags_and_sites(self) -> None:
        sections = self.locations(reverse("notices:sitemap"), "sitemap")
        self.assertEqual(len(sections), 5)
        urls: dict[str, ET.Element] = {}
        for section in sections:
            urls |= self.locations(section.removeprefix("http://testserver"), "url")
        notice_url = "http://testserver" + self.notices["admission"].get_absolute_url()
        self.assertIn(notice_url, urls)
        self.assertTrue(urls[notice_url].findtext(f"{SITEMAP}lastmod"))
        for expected in [
            reverse("notices:category", args=["blgc-edu-cn/北岭工程大学/研究生院"]),
            reverse("notices:tag", args=["寒假"]),
            reverse("notices:site", args=["北岭工程大学"]),
            reverse("notices:archive"),
        ]:
            self.assertIn("http://testserver" + expected, urls)
        self.assertEqual(sum(1 for u in urls if "/notices/" in u), 6)


class ModifiedTimeTests(FeedTestCase):
    """`updated` and `lastmod` say when the author changed a notice, not when it was imported."""

    def test_updated_is_the_authors_updated_else_the_date(self) -> None:
        admission = self.notices["admission"]
        Notice.objects.filter(pk=admission.pk).update(updated=admission.date + dt.timedelta(days=9))
        Notice.objects.exclude(pk=admission.pk).update(imported_at=timezone.now())
        root = self.parse(reverse("notices:feed-atom"))
        updated = {
            entry.findtext(f"{ATOM}title"): dt.datetime.fromisoformat(
                entry.findtext(f"{ATOM}updated")
            )
            for entry in root.findall(f"{ATOM}entry")
        }
        self.assertEqual(updated["2023年硕士研究生招生简章"], admission.date + dt.timedelta(days=9))
        for notice in Notice.objects.exclude(pk=admission.pk):
            self.assertEqual(updated[notice.title], notice.date)  # not the import time


class ArchiveDatesInFeedsTests(TestCase):
    """What a feed reader sees as `updated` for notices imported from files (issue 12): the
    author's date, never the import; the feed's own date moves only when an entry's does."""

    @classmethod
    def setUpTestData(cls) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_document(
                root, "revised.md", title="修订的通知", urlname="revised",
                extra_front_matter="updated: 2023-03-01 10:00:00",
            )  # fmt: skip
            write_document(root, "2019-04-05-from-name.md", title="文件名日期", urlname="named",
                           date=None)  # fmt: skip
            undated = write_document(root, "undated.md", title="无日期", urlname="undated",
                                     date=None)  # fmt: skip
            cls.mtime = dt.datetime(2020, 1, 2, 8, 0, tzinfo=dt.UTC)
            os.utime(undated, (cls.mtime.timestamp(), cls.mtime.timestamp()))
            report = import_archive([root])
        assert not report.errors, report.errors

    def feed(self, url: str) -> tuple[dt.datetime, dict[str, dt.datetime]]:
        root = ET.fromstring(self.client.get(url).content)
        entries = {
            entry.findtext(f"{ATOM}title"): dt.datetime.fromisoformat(
                entry.findtext(f"{ATOM}updated")
            )
            for entry in root.findall(f"{ATOM}entry")
        }
        return dt.datetime.fromisoformat(root.findtext(f"{ATOM}updated")), entries

    def test_entries_carry_the_files_dates_not_the_import_time(self) -> None:
        feed_updated, updated = self.feed(reverse("notices:feed-atom"))
        self.assertEqual(updated["修订的通知"], dt.datetime(2023, 3, 1, 10, tzinfo=SHANGHAI))
        self.assertEqual(updated["文件名日期"], dt.datetime(2019, 4, 5, tzinfo=SHANGHAI))
        self.assertEqual(updated["无日期"], self.mtime)
        imported = set(Notice.objects.values_list("imported_at", flat=True))
        self.assertFalse(imported & set(updated.values()))
        self.assertEqual(feed_updated, dt.datetime(2023, 3, 1, 10, tzinfo=SHANGHAI))

    def test_an_edit_moves_its_entry_and_the_feed(self) -> None:
        notice = Notice.objects.get(urlname="named")
        notice.mark_edited()  # what the admin's save does when a field changed
        notice.save()
        feed_updated, updated = self.feed(reverse("notices:feed-atom"))
        self.assertEqual(updated["文件名日期"], notice.edited_at)
        self.assertEqual(feed_updated, notice.edited_at)
        self.assertEqual(updated["修订的通知"], dt.datetime(2023, 3, 1, 10, tzinfo=SHANGHAI))

    def test_an_empty_feed_is_dated_by_the_last_change_not_now(self) -> None:
        changed = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
        DataVersion.objects.update(token="quiet", changed_at=changed)
        url = reverse("notices:search-atom") + "?q=" + quote("不存在的词语")
        feed_updated, updated = self.feed(url)
        self.assertEqual(updated, {})
        self.assertEqual(feed_updated, changed)
        rss = ET.fromstring(self.client.get(url.replace("atom", "rss")).content)
        self.assertEqual(rss.findtext("channel/lastBuildDate"), "Sat, 01 Jun 2024 12:00:00 +0000")
