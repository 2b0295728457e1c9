"""A notice's attachments (附件, issue 15 part 2): the documents its body links to, taken from
the sanitised HTML; the 附件 block on its page; the 有附件 filter and facet on every list,
search and feed, with stored counts; attachment names in search; JSON."""

from __future__ import annotations

import importlib
import io
import re
import tempfile
from pathlib import Path
from unittest import skipUnless

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import SimpleTestCase, TestCase
from django.urls import reverse

from notices import attachments, counts
from notices.attachments import MAX_ATTACHMENTS, MAX_LINKS, Attachment, find
from notices.importing import import_archive
from notices.models import FacetCount, Notice
from notices.rendering import render_notice
from notices.search import filter_notices
from tests.helpers import elements, make_notice, parse_html, visible_text, write_document
from tests.test_browser import ARTIFACTS, CHROMIUM, ChromiumTestCase
from tests.test_history import HistoryTestCase
from tests.test_search import brute_force, normalised_texts

SOURCE = "https://jwc.qinglan.edu.cn/info/1021/5678.htm"
# 60 characters, one unbreakable run: the name a phone must wrap.
LONG_NAME = (
    "附件3：北岭工程大学二〇二三年度本科生创新创业训练计划项目申报书及经费预算明细表"
    "（理工科类）填写说明与评审标准（试行稿）"
)
THREE_ATTACHMENTS = (
    "各学院：\n\n现将有关事项通知如下，请按附件要求填报。\n\n"
    "1. [附件1：2023年推免名额分配表](/_upload/article/files/quota.xlsx)\n"
    f"2. [{LONG_NAME}](https://files.qinglan.edu.cn/download.jsp?id=77&type=doc)\n"
    "3. https://jwc.qinglan.edu.cn/_upload/%E7%94%B3%E8%AF%B7%E8%A1%A8.pdf\n"
)


def found(body: str, base: str = SOURCE) -> list[Attachment]:
    """What a notice with this Markdown body lists: its sanitised HTML, as readers get it."""
    return find(render_notice(body, base).html, base)


class FindTests(SimpleTestCase):
    def test_links_to_documents_are_found_by_suffix_in_body_order(self) -> None:
        body = (
            "[章程](https://a.cn/z.PDF) [表](https://a.cn/b.docx?v=2#p3) [汇总](https://a.cn/c.XLS)"
            " [课件](https://a.cn/d.pptx) [公文](https://a.cn/e.wps) [压缩](https://a.cn/f.tar.gz)"
            " [数据](https://a.cn/g.csv) [说明](https://a.cn/h.txt) [电子公文](https://a.cn/i.ofd)"
            " [网页](https://a.cn/page.htm) [图](https://a.cn/pic.jpg) [首页](https://a.cn/)"
            " [假的](https://a.cn/download?file=x.pdf)\n"
        )
        self.assertEqual(
            [(a.name, a.kind) for a in found(body)],
            [("章程", "PDF"), ("表", "Word"), ("汇总", "Excel"), ("课件", "PPT"), ("公文", "WPS"),
             ("压缩", "压缩包"), ("数据", "Excel"), ("说明", "文本"), ("电子公文", "OFD")],
        )  # fmt: skip

    def test_links_titled_attachment_or_named_like_a_file_count(self) -> None:
        body = (
            "[附件1](https://a.cn/download.jsp?id=1) [附件：报名表.docx](https://a.cn/dl?id=2)"
            " [报名汇总表.xlsx](https://a.cn/dl?id=3) [点此下载](https://a.cn/dl?id=4)\n"
        )
        self.assertEqual(
            [(a.name, a.kind, a.url) for a in found(body)],
            [("附件1", "文件", "https://a.cn/download.jsp?id=1"),
             ("附件：报名表.docx", "Word", "https://a.cn/dl?id=2"),
             ("报名汇总表.xlsx", "Excel", "https://a.cn/dl?id=3")],
        )  # fmt: skip

    def test_relative_links_are_resolved_against_the_source_address(self) -> None:
        body = "[a](../files/a.pdf) [b](/upload/b.doc) [c](c.zip) [d](//cdn.qinglan.cn/d.rar)\n"
        self.assertEqual(
            [(a.url, a.host) for a in found(body)],
            [("https://jwc.qinglan.edu.cn/info/files/a.pdf", "jwc.qinglan.edu.cn"),
             ("https://jwc.qinglan.edu.cn/upload/b.doc", "jwc.qinglan.edu.cn"),
             ("https://jwc.qinglan.edu.cn/info/1021/c.zip", "jwc.qinglan.edu.cn"),
             ("https://cdn.qinglan.cn/d.rar", "cdn.qinglan.cn")],
        )  # fmt: skip
        # Without a source they stay as written (the page's own links do the same).
        self.assertEqual([a.url for a in found("[b](/upload/b.doc)\n", base="")], ["/upload/b.doc"])
        self.assertEqual(found("[b](/upload/b.doc)\n", base="")[0].host, "")

    def test_names_come_from_percent_encoded_file_names(self) -> None:
        body = (
            "https://a.cn/%E9%99%84%E4%BB%B6.pdf\n\n"  # an autolink: its text is its address
            "[](https://a.cn/x/%B1%A8%C3%FB%B1%ED.doc)\n\n"  # GB18030, no text
            "<https://a.cn/plain-name.zip>\n"
        )
        self.assertEqual(
            [a.name for a in found(body)], ["附件.pdf", "报名表.doc", "plain-name.zip"]
        )

    def test_an_address_is_listed_once(self) -> None:
        body = (
            "[附件1：报名表](https://a.cn/f.docx) 填好后…… [报名表](https://a.cn/f.docx)"
            " [第二页](https://a.cn/f.docx#page=2) [另一份](https://a.cn/f.docx?v=2)\n"
        )
        self.assertEqual(
            [(a.name, a.url) for a in found(body)],
            [("附件1：报名表", "https://a.cn/f.docx"), ("另一份", "https://a.cn/f.docx?v=2")],
        )

    def test_links_a_reader_cannot_open_safely_are_never_listed(self) -> None:
        body = (
            "[附件1](javascript:alert(1)) [附件2](data:application/pdf;base64,JVBERi0=)"
            " [附件3](mailto:office@qinglan.edu.cn) [a.pdf](ftp://a.cn/a.pdf)"
            ' <a href="JaVaScRiPt:alert(1)//x.pdf">附件4</a> [附件5](#top)'
            ' <a href="vbscript:x.doc">附件6</a>\n'
        )
        self.assertEqual(found(body), [])
        # Even given raw, unsanitised HTML, only http(s) and relative addresses are listed.
        raw = '<a href="javascript:alert(1)//a.pdf">附件</a><a href="data:,x.pdf">附件</a>'
        self.assertEqual(find(raw, SOURCE), [])

    def test_names_are_cleaned_and_cut(self) -> None:
        body = f"[附件\u202e\u200b：{'很长' * 400}](https://a.cn/a.pdf)\n"
        [attachment] = found(body)
        self.assertTrue(attachment.name.startswith("附件："))
        self.assertEqual(len(attachment.name), attachments.MAX_NAME)

    def test_hostile_sizes_are_bounded(self) -> None:
        many = "".join(f'<a href="https://a.cn/{i}.pdf">附件{i}</a>' for i in range(10_000))
        self.assertEqual(len(find(many, SOURCE)), MAX_ATTACHMENTS)
        # Only the first MAX_LINKS links are looked at: an attachment after 10,000 plain links
        # is not listed, and looking costs what MAX_LINKS links cost (bench/attachments.py).
        plain = "".join(f'<a href="https://a.cn/{i}.htm">第{i}页</a>' for i in range(10_000))
        self.assertEqual(find(plain + '<a href="https://a.cn/x.pdf">x</a>', SOURCE), [])
        early = "".join(f'<a href="https://a.cn/{i}.htm">第{i}页</a>' for i in range(MAX_LINKS - 1))
        self.assertEqual(len(find(early + '<a href="https://a.cn/x.pdf">x</a>', SOURCE)), 1)
        self.assertEqual(find(f'<a href="https://a.cn/{"a" * 3000}.pdf">附件</a>', SOURCE), [])
        self.assertEqual(find('<a href="http://[::1/a.pdf">附件</a>', SOURCE), [])

    def test_json_round_trips(self) -> None:
        stored = attachments.derive(render_notice(THREE_ATTACHMENTS, SOURCE).html, SOURCE)
        self.assertEqual([a.as_dict() for a in attachments.from_json(stored)], stored)
        self.assertEqual(attachments.from_json("not a list"), [])
        self.assertEqual(set(stored[0]), {"url", "name", "kind", "host"})


class StoredTests(TestCase):
    def test_render_and_the_importer_store_the_same_attachments(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            write_document(Path(root), "a.md", urlname="imported", body=THREE_ATTACHMENTS,
                           source_url=SOURCE)  # fmt: skip
            report = import_archive([Path(root)])
        self.assertEqual(report.created, 1, report.errors)
        notice = Notice.objects.get(urlname="imported")
        self.assertTrue(notice.has_attachments)
        self.assertEqual(len(notice.attachments), 3)
        stored = notice.attachments
        notice.render()
        self.assertEqual(notice.attachments, stored)
        self.assertEqual(
            [a["url"] for a in stored],
            ["https://jwc.qinglan.edu.cn/_upload/article/files/quota.xlsx",
             "https://files.qinglan.edu.cn/download.jsp?id=77&type=doc",
             "https://jwc.qinglan.edu.cn/_upload/%E7%94%B3%E8%AF%B7%E8%A1%A8.pdf"],
        )  # fmt: skip

    def test_an_export_is_unchanged_by_attachments(self) -> None:
        with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as out:
            path = write_document(Path(root), "a.md", urlname="exported", body=THREE_ATTACHMENTS)
            import_archive([Path(root)])
            call_command("export_notices", out, stdout=io.StringIO())
            self.assertEqual((Path(out) / "a.md").read_bytes(), path.read_bytes())

    def test_the_migration_fills_existing_notices(self) -> None:
        with_links = make_notice(urlname="old-with", body=THREE_ATTACHMENTS, source_url=SOURCE)
        without = make_notice(urlname="old-without")
        # As a database from before 0014 is: no attachments, no 有附件 counts, index without
        # the names.
        Notice.objects.update(attachments=[], has_attachments=False)
        FacetCount.objects.filter(scope=counts.ATTACHMENTS).delete()
        FacetCount.objects.filter(facet=counts.ATTACHMENTS).delete()
        from notices import search

        search.index_notices(Notice.objects.only("id", "date", "title", "body_html", "attachments"))
        self.assertFalse(filter_notices(Notice.objects.all(), "申请表").exists())
        migration = importlib.import_module("notices.migrations.0014_attachments")
        migration.fill_attachments(apps, connection.schema_editor())
        with_links.refresh_from_db()
        without.refresh_from_db()
        self.assertEqual(len(with_links.attachments), 3)
        self.assertTrue(with_links.has_attachments)
        self.assertFalse(without.has_attachments)
        self.assertEqual(counts.stored(), counts.recount())
        self.assertEqual(
            list(filter_notices(Notice.objects.all(), "申请表").values_list("id", flat=True)),
            [with_links.id],
        )


class PageTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notice = make_notice(urlname="with-files", title="关于推免工作的通知",
                                 body=THREE_ATTACHMENTS, source_url=SOURCE)  # fmt: skip
        cls.plain = make_notice(urlname="no-files", title="关于寒假安排的通知")

    def block(self, notice: Notice) -> list:
        page = parse_html(self.client.get(notice.get_absolute_url()).content.decode())
        return elements(page, "section", **{"class": "attachments"})

    def test_the_block_lists_type_name_and_host_linking_to_the_file(self) -> None:
        [block] = self.block(self.notice)
        self.assertIn("附件", visible_text(elements(block, "h2")[0]))
        items = elements(block, "li")
        self.assertEqual(len(items), 3)
        rows = [
            (
                visible_text(elements(item, "span", **{"class": "attachment-kind"})[0]),
                visible_text(elements(item, "a")[0]),
                visible_text(elements(item, "span", **{"class": "attachment-host"})[0]),
            )
            for item in items
        ]
        self.assertEqual(
            rows,
            [("Excel", "附件1：2023年推免名额分配表", "jwc.qinglan.edu.cn"),
             ("文件", LONG_NAME, "files.qinglan.edu.cn"),
             ("PDF", "申请表.pdf", "jwc.qinglan.edu.cn")],
        )  # fmt: skip
        links = [elements(item, "a")[0] for item in items]
        self.assertEqual(
            links[1].get("href"), "https://files.qinglan.edu.cn/download.jsp?id=77&type=doc"
        )
        self.assertEqual({link.get("rel") for link in links}, {"nofollow noopener"})

    def test_a_notice_without_attachments_has_no_block(self) -> None:
        self.assertEqual(self.block(self.plain), [])

    def test_names_are_escaped(self) -> None:
        notice = make_notice(
            urlname="escaped", body='<a href="https://a.cn/x.pdf">&lt;script&gt;附件</a>\n'
        )
        response = self.client.get(notice.get_absolute_url())
        self.assertContains(response, "&lt;script&gt;附件")
        self.assertNotContains(response, "<script>附件")

    def test_english_names_the_kinds(self) -> None:
        notice = make_notice(
            urlname="kinds", body="[附件](https://a.cn/a.zip) [x](https://a.cn/dl?附件)\n"
        )
        response = self.client.get(notice.get_absolute_url(), headers={"accept-language": "en"})
        text = response.content.decode()
        self.assertIn(">Attachments <", text)
        self.assertIn(">Archive<", text)

    def test_the_notice_json_lists_the_attachments(self) -> None:
        data = self.client.get(self.notice.get_absolute_url(), {"format": "json"}).json()
        self.assertEqual(len(data["attachments"]), 3)
        self.assertEqual(
            data["attachments"][0],
            {"url": "https://jwc.qinglan.edu.cn/_upload/article/files/quota.xlsx",
             "name": "附件1：2023年推免名额分配表", "kind": "Excel", "host": "jwc.qinglan.edu.cn"},
        )  # fmt: skip
        self.assertTrue(data["has_attachments"])
        plain = self.client.get(self.plain.get_absolute_url(), {"format": "json"}).json()
        self.assertEqual((plain["attachments"], plain["has_attachments"]), ([], False))


class FilterTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.with_files = [
            make_notice(urlname=f"files-{i}", title=f"第{i}批推免通知", body=THREE_ATTACHMENTS,
                        source_url=SOURCE)
            for i in range(3)
        ]  # fmt: skip
        cls.plain = [make_notice(urlname=f"plain-{i}", title=f"第{i}次放假通知") for i in range(4)]
        other = make_notice(urlname="other-site", site="北岭工程大学", body=THREE_ATTACHMENTS)
        cls.with_files.append(other)
        for notice in [*cls.with_files[:2], cls.plain[0]]:
            notice.tags.add("推免")

    # The notices with attachments share one body: copies of one notice (issue 15), which
    # lists show as one entry. These tests are about the filter: every copy is listed.
    def urlnames(self, path: str, **params) -> set[str]:
        data = self.client.get(path, {**params, "format": "json", "all": "1"}).json()
        return {result["urlname"] for result in data["results"]}

    def test_every_list_and_search_takes_the_filter(self) -> None:
        files = {notice.urlname for notice in self.with_files}
        self.assertEqual(self.urlnames("/", attachments="1"), files)
        self.assertEqual(
            self.urlnames(reverse("notices:tag", args=["推免"]), attachments="1"),
            {"files-0", "files-1"},
        )
        self.assertEqual(
            self.urlnames(reverse("notices:site", args=["青岚大学"]), attachments="1"),
            files - {"other-site"},
        )
        self.assertEqual(self.urlnames("/", attachments="1", year="2021"), files)
        self.assertEqual(self.urlnames(reverse("notices:search"), q="通知", attachments="1"), files)
        data = self.client.get("/", {"attachments": "1", "format": "json", "all": "1"}).json()
        self.assertEqual(data["count"], 4)
        folded = self.client.get("/", {"attachments": "1", "format": "json"}).json()
        self.assertEqual((folded["count"], folded["hidden_copies"]), (1, 3))
        self.assertTrue(data["filters"]["attachments"])
        self.assertTrue(all(result["has_attachments"] for result in data["results"]))

    def test_a_malformed_value_is_a_404(self) -> None:
        for value in ("0", "yes", "1 ", "2"):
            with self.subTest(value=value):
                self.assertEqual(self.client.get("/", {"attachments": value}).status_code, 404)

    def test_feeds_take_the_filter(self) -> None:
        feed = self.client.get(reverse("notices:feed-atom"), {"attachments": "1", "all": "1"})
        text = feed.content.decode()
        self.assertEqual(text.count("<entry>"), 4)
        self.assertNotIn("放假", text)
        everything = self.client.get(reverse("notices:feed-atom"), {"all": "1"}).content.decode()
        self.assertEqual(everything.count("<entry>"), 8)

    def test_the_facet_counts_and_the_chip_removes(self) -> None:
        response = self.client.get("/")
        facet = response.context["facets"]["attachments"]
        self.assertEqual([(v["label"], v["count"], v["query"]) for v in facet],
                         [("有附件", 4, "attachments=1")])  # fmt: skip
        page = parse_html(response.content.decode())
        self.assertIn("?attachments=1", [a.get("href") for a in elements(page, "a")])
        tag_page = self.client.get(reverse("notices:tag", args=["推免"]))
        self.assertEqual(tag_page.context["facets"]["attachments"][0]["count"], 2)
        # Filtered: a chip that removes it, and no facet offering it again.
        filtered = self.client.get("/", {"attachments": "1", "tag": "推免"})
        [chip] = filtered.context["active_filters"][1:]
        self.assertEqual((chip.label, chip.query), ("有附件", "tag=%E6%8E%A8%E5%85%8D"))
        self.assertEqual(filtered.context["facets"]["attachments"], [])
        # A search's facets are counted by grouped queries.
        search = self.client.get(reverse("notices:search"), {"q": "推免"})
        self.assertEqual(search.context["facets"]["attachments"], [])  # every match has them
        search = self.client.get(reverse("notices:search"), {"q": "通知"})
        self.assertEqual(search.context["facets"]["attachments"][0]["count"], 4)

    def test_the_page_cache_keys_by_the_filter(self) -> None:
        everything = self.client.get("/").content
        filtered = self.client.get("/", {"attachments": "1"}).content
        self.assertNotEqual(everything, filtered)
        self.assertEqual(self.client.get("/").content.count(b'class="notice-item'),
                         everything.count(b'class="notice-item'))  # fmt: skip

    def test_stored_counts_match_a_recount(self) -> None:
        self.assertEqual(counts.with_attachments(counts.ALL), 4)
        self.assertEqual(counts.total(counts.ATTACHMENTS), 4)
        self.assertEqual(counts.stored(), counts.recount())


class SearchTests(TestCase):
    def test_every_name_substring_finds_what_a_scan_of_the_text_finds(self) -> None:
        """Recall 1.00 with the names in the text: the index against a scan of the same
        text (tests/test_search.py's brute force over search.notice_texts)."""
        bodies = [
            THREE_ATTACHMENTS,
            "https://a.cn/%E5%AE%9E%E4%B9%A0%E9%89%B4%E5%AE%9A%E8%A1%A8.docx\n",
            "[](https://a.cn/%E6%AF%95%E4%B8%9A%E8%AE%BE%E8%AE%A1%E4%BB%BB%E5%8A%A1%E4%B9%A6.pdf)\n",
            "没有附件的通知。\n",
        ]
        for i, body in enumerate(bodies):
            make_notice(urlname=f"recall-{i}", body=body, source_url=SOURCE)
        texts = normalised_texts()
        names = [item["name"] for n in Notice.objects.all() for item in n.attachments]
        self.assertIn("毕业设计任务书.pdf", names)
        checked = 0
        for name in names:
            for length in (2, 3, 4):
                for start in range(0, max(1, len(name) - length + 1), 3):
                    query = f'"{name[start : start + length]}"'
                    if not re.search(r"[^\W_]", query):
                        continue
                    with self.subTest(query=query):
                        hits = filter_notices(Notice.objects.all(), query)
                        expected = brute_force(query, texts)
                        self.assertTrue(expected)
                        self.assertEqual(set(hits.values_list("id", flat=True)), expected)
                    checked += 1
        self.assertGreater(checked, 50)

    def test_names_from_addresses_are_searchable(self) -> None:
        notice = make_notice(urlname="searched", body=THREE_ATTACHMENTS, source_url=SOURCE)
        make_notice(urlname="unrelated")
        # 申请表 is only in the third link's address, percent-encoded.
        self.assertNotIn("申请表", Notice.objects.get(id=notice.id).body)
        for query in ("申请表", "申请表.pdf", "名额分配表"):
            with self.subTest(query=query):
                self.assertEqual(
                    list(filter_notices(Notice.objects.all(), query).values_list("id", flat=True)),
                    [notice.id],
                )
        response = self.client.get(reverse("notices:search"), {"q": "申请表", "format": "json"})
        self.assertEqual([r["urlname"] for r in response.json()["results"]], ["searched"])


class AdminEditTests(HistoryTestCase):
    def test_an_edit_that_adds_or_removes_a_link_updates_block_filter_and_counts(self) -> None:
        notice = make_notice(urlname="edited", body="各学院：\n\n暂无附件。\n")
        self.assertFalse(
            self.client.get("/", {"attachments": "1", "format": "json"}).json()["results"]
        )
        self.edit_in_admin(notice, body="各学院：\n\n见[附件：报名表](https://a.cn/form.docx)。\n")
        page = self.client.get(notice.get_absolute_url()).content.decode()
        self.assertIn("附件：报名表", page)
        self.assertIn('class="attachments"', page)
        listed = self.client.get("/", {"attachments": "1", "format": "json"}).json()
        self.assertEqual([r["urlname"] for r in listed["results"]], ["edited"])
        self.assertEqual(counts.with_attachments(counts.ALL), 1)
        self.edit_in_admin(notice, body="各学院：\n\n附件已撤回。\n")
        self.assertNotIn(
            'class="attachments"', self.client.get(notice.get_absolute_url()).content.decode()
        )
        self.assertFalse(
            self.client.get("/", {"attachments": "1", "format": "json"}).json()["results"]
        )
        self.assertEqual(counts.stored(), counts.recount())


@pytest.mark.slow
@skipUnless(
    CHROMIUM.exists(),
    "browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
class BrowserTests(ChromiumTestCase):
    port = 0

    def setUp(self) -> None:
        self.notice = make_notice(
            urlname="attachments-page",
            title="关于做好2023年推荐优秀应届本科毕业生免试攻读研究生工作的通知",
            body=THREE_ATTACHMENTS,
            source_url=SOURCE,
        )

    def test_the_block_fits_a_phone_and_a_desktop(self) -> None:
        self.assertEqual(len(LONG_NAME), 60)
        for width in (1280, 375):
            with self.subTest(width=width):
                _context, page = self.open_page(width)
                page.goto(self.live_server_url + self.notice.get_absolute_url())
                block = page.locator("section.attachments")
                block.scroll_into_view_if_needed()
                self.assert_fits_width(page)
                sizes = page.evaluate(
                    """() => {
                      const block = document.querySelector('section.attachments');
                      const box = block.getBoundingClientRect();
                      const items = [...block.querySelectorAll('li')].map(li => {
                        const name = li.querySelector('.attachment-name').getBoundingClientRect();
                        const badge = li.querySelector('.attachment-kind').getBoundingClientRect();
                        return {right: Math.max(name.right, badge.right), nameWidth: name.width,
                                nameHeight: name.height, badgeWidth: badge.width,
                                scroll: li.scrollWidth - li.clientWidth};
                      });
                      return {left: box.left, right: box.right, items,
                              lineHeight: parseFloat(getComputedStyle(
                                block.querySelector('.attachment-name')).lineHeight) || 24};
                    }"""
                )
                for item in sizes["items"]:
                    self.assertLessEqual(item["right"], sizes["right"] + 0.5)
                    self.assertLessEqual(item["scroll"], 0)
                    self.assertGreater(item["badgeWidth"], 20)
                long_item = sizes["items"][1]
                if width == 375:
                    # The 60-character name wraps onto several lines inside the block.
                    self.assertGreater(long_item["nameHeight"], 2 * sizes["lineHeight"])
                    self.assertGreater(long_item["nameWidth"], 200)
                self.assertGreaterEqual(sizes["left"], 0)
                page.screenshot(path=str(ARTIFACTS / f"attachments-{width}.png"), full_page=True)
