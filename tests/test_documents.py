from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from unittest import TestCase

from notices.documents import (
    DocumentError,
    category_paths,
    decode_file,
    derive_urlname,
    encode_file,
    parse_bytes,
    parse_date,
    parse_text,
    split_title,
)
from tests.helpers import document_text

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def parse(text: str, **kwargs) -> object:
    return parse_text(text, source_path="notices/a.md", zone=SHANGHAI, **kwargs)


class TitleTests(TestCase):
    def test_it_splits_site_title_and_domain(self) -> None:
        self.assertEqual(
            split_title("青岚大学->关于寒假安排的通知 | qinglan.edu.cn"),
            ("青岚大学", "关于寒假安排的通知", "qinglan.edu.cn"),
        )

    def test_it_tolerates_spacing_and_full_width_bar(self) -> None:
        self.assertEqual(
            split_title("青岚大学 -> 关于寒假安排的通知｜QingLan.edu.cn "),
            ("青岚大学", "关于寒假安排的通知", "qinglan.edu.cn"),
        )

    def test_it_keeps_a_title_without_the_pattern_whole(self) -> None:
        self.assertEqual(
            split_title("金枪鱼之夜：开源软件 | TUNA"), ("", "金枪鱼之夜：开源软件 | TUNA", "")
        )

    def test_it_reads_a_site_without_domain(self) -> None:
        self.assertEqual(split_title("青岚大学->招生简章"), ("青岚大学", "招生简章", ""))

    def test_it_keeps_a_bar_inside_the_title(self) -> None:
        site, title, domain = split_title("青岚大学->A | B 两校联合通知 | qinglan.edu.cn")
        self.assertEqual(
            (site, title, domain), ("青岚大学", "A | B 两校联合通知", "qinglan.edu.cn")
        )


class DateTests(TestCase):
    def test_it_reads_common_forms_as_shanghai_time(self) -> None:
        expected = dt.datetime(2020, 1, 31, 15, 31, 34, tzinfo=SHANGHAI)
        for text in ["2020-01-31 15:31:34", "2020/01/31 15:31:34", "2020-1-31 15:31:34"]:
            with self.subTest(text=text):
                self.assertEqual(parse_date(text, SHANGHAI), expected)

    def test_it_reads_unpadded_dates_and_minutes(self) -> None:
        self.assertEqual(parse_date("2020-1-3", SHANGHAI), dt.datetime(2020, 1, 3, tzinfo=SHANGHAI))
        self.assertEqual(
            parse_date("2020/01/31 15:31", SHANGHAI),
            dt.datetime(2020, 1, 31, 15, 31, tzinfo=SHANGHAI),
        )

    def test_it_honours_offsets(self) -> None:
        utc = dt.UTC
        self.assertEqual(
            parse_date("2020-01-31T07:31:34Z", SHANGHAI),
            dt.datetime(2020, 1, 31, 7, 31, 34, tzinfo=utc),
        )
        for text in [
            "2020-01-31 15:31:34+08:00",
            "2020-01-31 15:31:34 +0800",
            "2020-01-31T15:31:34+08:00",
        ]:
            with self.subTest(text=text):
                self.assertEqual(
                    parse_date(text, SHANGHAI), dt.datetime(2020, 1, 31, 7, 31, 34, tzinfo=utc)
                )

    def test_it_rejects_garbage(self) -> None:
        for text in [
            "2025-08-21 0：00：0jjj0",
            "2018-09-27 及 2018-09-28",
            "yesterday",
            "2020-13-01",
        ]:
            with self.subTest(text=text), self.assertRaises(ValueError):
                parse_date(text, SHANGHAI)


class ShapeTests(TestCase):
    def test_categories_list_is_one_path(self) -> None:
        self.assertEqual(
            category_paths(["qinglan.edu.cn", "青岚大学"]), [["qinglan.edu.cn", "青岚大学"]]
        )

    def test_categories_list_of_lists_is_several_paths(self) -> None:
        self.assertEqual(category_paths([["a", "b"], ["c"]]), [["a", "b"], ["c"]])

    def test_categories_string_and_number_are_one_category(self) -> None:
        self.assertEqual(category_paths("Archive"), [["Archive"]])
        self.assertEqual(category_paths(2020), [["2020"]])
        self.assertEqual(category_paths(None), [])

    def test_derived_urlnames_are_stable_and_distinct(self) -> None:
        self.assertEqual(derive_urlname("a/b.md"), derive_urlname("a/b.md"))
        self.assertNotEqual(derive_urlname("a/b.md"), derive_urlname("a-b.md"))
        self.assertNotIn("/", derive_urlname("2020/寒假 通知.md"))


class ParseTests(TestCase):
    def test_it_reads_a_seed_shaped_document(self) -> None:
        document = parse(document_text(tags=["青岚大学", "寒假"]))
        self.assertEqual(document.urlname, "a1b2c3d4e5f60718293a4b5c6d7e8f90")
        self.assertEqual(document.site, "青岚大学")
        self.assertEqual(document.title, "关于寒假安排的通知")
        self.assertEqual(document.domain, "qinglan.edu.cn")
        self.assertEqual(document.date, dt.datetime(2021, 1, 15, 9, 30, tzinfo=SHANGHAI))
        self.assertEqual(document.tags, ["青岚大学", "寒假"])
        self.assertEqual(document.category_paths, [["qinglan.edu.cn", "青岚大学"]])
        self.assertEqual(document.extra, {})

    def test_it_keeps_source_link(self) -> None:
        document = parse(document_text())
        self.assertEqual(document.source_url, "https://news.qinglan.edu.cn/2021/0115/notice.html")
        self.assertTrue(
            document.body.endswith(
                "[转入文章首发地址](https://news.qinglan.edu.cn/2021/0115/notice.html)\n"
            )
        )

    def test_it_keeps_the_body_exactly(self) -> None:
        body = "\n\n第一段  \n\n---\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        document = parse(document_text(body=body, source_url=None))
        self.assertEqual(document.body, body)

    def test_javascript_source_link_is_not_a_link(self) -> None:
        document = parse(document_text(source_url="javascript:alert(1)"))
        self.assertEqual(document.source_url, "")
        self.assertIn("javascript:alert(1)", document.body)

    def test_it_takes_source_url_from_front_matter(self) -> None:
        text = document_text(source_url=None, extra_front_matter="link: https://example.org/n/1")
        document = parse(text)
        self.assertEqual(document.source_url, "https://example.org/n/1")
        self.assertEqual(document.extra, {"link": "https://example.org/n/1"})

    def test_it_keeps_unknown_keys_as_written(self) -> None:
        text = document_text(
            extra_front_matter="place: 图书馆（东区）\ncomments: yes\nid: 0123\n"
            "nested:\n  a: [1, 2]"
        )
        document = parse(text)
        self.assertEqual(
            document.extra,
            {
                "place": "图书馆（东区）",
                "comments": "yes",
                "id": "0123",
                "nested": {"a": ["1", "2"]},
            },
        )

    def test_yaml_typing_never_alters_urlname_or_tags(self) -> None:
        for urlname in ["0123", "1e5", "389338469067382240000000000000", "true"]:
            with self.subTest(urlname=urlname):
                self.assertEqual(parse(document_text(urlname=urlname)).urlname, urlname)
        self.assertEqual(
            parse(document_text(tags=["996", "on", "2020-01-01"])).tags, ["996", "on", "2020-01-01"]
        )

    def test_tags_in_any_shape(self) -> None:
        base = "---\ntitle: 标题\ndate: 2020-01-01\n"
        self.assertEqual(parse(base + "tags: 招生\n---\n").tags, ["招生"])
        self.assertEqual(parse(base + "tags: 404\n---\n").tags, ["404"])
        self.assertEqual(parse(base + "tags:\n---\n").tags, [])
        self.assertEqual(parse(base + "tags: [a, b, a, ' ']\n---\n").tags, ["a", "b"])

    def test_missing_urlname_is_derived_from_path(self) -> None:
        document = parse(document_text(urlname=None))
        self.assertEqual(document.urlname, derive_urlname("notices/a.md"))

    def test_missing_date_falls_back_with_a_warning(self) -> None:
        fallback = dt.datetime(2022, 5, 1, tzinfo=dt.UTC)
        document = parse(document_text(date=None), fallback_date=fallback)
        self.assertEqual(document.date, fallback)
        self.assertEqual(document.date_source, "file_mtime")
        self.assertEqual(len(document.warnings), 1)
        self.assertIn("modification time", document.warnings[0])

    def test_it_reads_toml_and_json_front_matter(self) -> None:
        toml = '+++\ntitle = "TOML 通知"\ndate = 2020-01-31T15:31:34\ntags = ["a"]\n+++\n正文\n'
        document = parse(toml)
        self.assertEqual(
            (document.title, document.tags, document.body), ("TOML 通知", ["a"], "正文\n")
        )
        self.assertEqual(document.date, dt.datetime(2020, 1, 31, 15, 31, 34, tzinfo=SHANGHAI))
        json_text = '{\n"title": "JSON 通知", "date": "2020-01-31"\n}\n正文\n'
        self.assertEqual(parse(json_text).title, "JSON 通知")


class DecodingTests(TestCase):
    def test_it_reads_bom_and_crlf(self) -> None:
        data = b"\xef\xbb\xbf" + document_text().replace("\n", "\r\n").encode()
        document = parse_bytes(data, source_path="a.md", zone=SHANGHAI)
        self.assertEqual(document.title, "关于寒假安排的通知")
        self.assertNotIn("\r", document.body)

    def test_it_falls_back_to_gb18030(self) -> None:
        data = document_text().encode("gb18030")
        document = parse_bytes(data, source_path="a.md", zone=SHANGHAI)
        self.assertEqual(document.site, "青岚大学")

    def test_it_rejects_binary(self) -> None:
        with self.assertRaisesRegex(DocumentError, "^a.md: "):
            decode_file(b"\x00\x01\x02\xff\xfe", "a.md")


class RejectionTests(TestCase):
    def assertRejected(self, text: str, pattern: str, line: int | None = None) -> None:
        with self.assertRaises(DocumentError) as caught:
            parse(text)
        self.assertRegex(str(caught.exception), pattern)
        self.assertTrue(str(caught.exception).startswith("notices/a.md"))
        if line is not None:
            self.assertEqual(caught.exception.line, line)

    def test_it_reports_bad_yaml_with_file_and_line(self) -> None:
        text = "---\ntitle: 标题\ndate: 2020-01-01\ntags: [a, b\n---\nbody\n"
        with self.assertRaises(DocumentError) as caught:
            parse(text)
        self.assertRegex(str(caught.exception), r"^notices/a.md:\d+: invalid front matter")
        self.assertIn(caught.exception.line, {4, 5})

    def test_it_rejects_unsafe_yaml_tags(self) -> None:
        text = "---\ntitle: !!python/object/apply:os.system ['echo hi']\ndate: 2020-01-01\n---\n"
        self.assertRejected(text, "invalid front matter", 2)

    def test_it_rejects_no_title(self) -> None:
        self.assertRejected("---\ndate: 2020-01-01\n---\nbody\n", "missing or empty title")
        self.assertRejected(
            "---\ntitle: ''\ndate: 2020-01-01\n---\nbody\n", "missing or empty title", 2
        )

    def test_it_rejects_no_closing_delimiter(self) -> None:
        self.assertRejected("---\ntitle: 标题\ndate: 2020-01-01\nbody\n", "never closed", 1)

    def test_it_rejects_no_front_matter(self) -> None:
        self.assertRejected("# 只是正文\n", "no front matter", 1)

    def test_it_rejects_an_unparseable_date_naming_its_line(self) -> None:
        # Nothing to fall back on: no leading date, no date in the file name.
        self.assertRejected(document_text(date="下周一"), "invalid date", 3)

    def test_it_rejects_unusable_urlnames(self) -> None:
        self.assertRejected(document_text(urlname="a/b"), "urlname", 4)

    def test_a_billion_laughs_finishes_quickly(self) -> None:
        levels = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
        for i, name in enumerate("bcdefghi"):
            prev = "abcdefghi"[i]
            levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        text = "---\ntitle: 炸弹\ndate: 2020-01-01\n" + "\n".join(levels) + "\n---\nbody\n"
        started = time.perf_counter()
        with self.assertRaisesRegex(DocumentError, "too large"):
            parse(text)
        # Not a benchmark: an unbounded expansion would take minutes and gigabytes.
        self.assertLess(time.perf_counter() - started, 5)


class HexoDateTests(TestCase):
    """Dates as Hexo and Jekyll choose them (issue 9)."""

    mtime = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)

    def parse_at(self, path: str, date: str | None) -> object:
        return parse_text(
            document_text(date=date), source_path=path, zone=SHANGHAI, fallback_date=self.mtime
        )

    def test_an_undated_post_takes_the_date_in_its_file_name(self) -> None:
        document = self.parse_at("posts/2019-4-05-spring-sports-day.md", None)
        self.assertEqual(document.date, dt.datetime(2019, 4, 5, tzinfo=SHANGHAI))
        self.assertEqual(document.date_source, "file_name")
        self.assertEqual(document.warnings, [
            "posts/2019-4-05-spring-sports-day.md: no date in front matter; "
            "using the date in the file name (2019-04-05)"
        ])  # fmt: skip

    def test_an_undated_post_takes_the_date_of_its_folders(self) -> None:
        document = self.parse_at("2021/03/09/library-hours.md", None)
        self.assertEqual(document.date, dt.datetime(2021, 3, 9, tzinfo=SHANGHAI))
        self.assertEqual(document.date_source, "file_name")

    def test_without_a_date_in_the_name_the_modification_time_is_the_last_resort(self) -> None:
        document = self.parse_at("notes/library-hours.md", None)
        self.assertEqual((document.date, document.date_source), (self.mtime, "file_mtime"))

    def test_an_impossible_file_name_date_is_not_used(self) -> None:
        document = self.parse_at("2021-02-30-nothing.md", None)
        self.assertEqual(document.date_source, "file_mtime")

    def test_a_written_date_wins_over_the_file_name(self) -> None:
        document = self.parse_at("2019-04-05-x.md", "2019-04-03 10:00:00")
        self.assertEqual(document.date, dt.datetime(2019, 4, 3, 10, tzinfo=SHANGHAI))
        self.assertEqual((document.date_source, document.warnings), ("front_matter", []))

    def test_trailing_garbage_keeps_the_leading_date_with_a_warning_naming_the_line(self):
        document = self.parse_at("a.md", "2024-06-01 至 2024-06-03")
        self.assertEqual(document.date, dt.datetime(2024, 6, 1, tzinfo=SHANGHAI))
        self.assertEqual(document.date_source, "front_matter")
        self.assertEqual(len(document.warnings), 1)
        self.assertTrue(document.warnings[0].startswith("a.md:3: date '2024-06-01 至"))

    def test_full_width_digits_and_colons(self) -> None:
        document = self.parse_at("a.md", "２０２４－０６－０１ １４：３０")
        self.assertEqual(document.date, dt.datetime(2024, 6, 1, 14, 30, tzinfo=SHANGHAI))
        garbled = self.parse_at("a.md", "2024-06-01 9：30：0xx0")
        self.assertEqual(garbled.date, dt.datetime(2024, 6, 1, 9, 30, tzinfo=SHANGHAI))
        self.assertEqual(len(garbled.warnings), 1)

    def test_garbage_with_no_leading_date_falls_back_to_the_file_name(self) -> None:
        document = self.parse_at("2023-10-08-open-day.md", "待定")
        self.assertEqual(document.date, dt.datetime(2023, 10, 8, tzinfo=SHANGHAI))
        self.assertEqual(document.date_source, "file_name")
        self.assertIn("invalid date", document.warnings[0])

    def test_updated_is_read(self) -> None:
        text = document_text().replace("date:", "updated: 2024-02-01 08:00:00\ndate:")
        document = parse(text)
        self.assertEqual(document.updated, dt.datetime(2024, 2, 1, 8, tzinfo=SHANGHAI))
        self.assertEqual(document.extra["updated"], "2024-02-01 08:00:00")

    def test_an_unreadable_updated_is_ignored_with_a_warning(self) -> None:
        text = document_text().replace("date:", "updated: 很久以前\ndate:")
        document = parse(text)
        self.assertIsNone(document.updated)
        self.assertIn("ignored updated", document.warnings[0])


class HexoSlugTests(TestCase):
    def test_the_slug_is_the_file_name_without_its_date(self) -> None:
        document = parse_text(document_text(), source_path="p/2018-11-10-lab-open-day.md")
        self.assertEqual(document.slug, "lab-open-day")

    def test_a_slug_in_front_matter_wins(self) -> None:
        text = document_text().replace("date:", "slug: 'open-day'\ndate:")
        self.assertEqual(parse(text).slug, "open-day")

    def test_a_name_without_a_date_is_kept_whole(self) -> None:
        self.assertEqual(parse_text(document_text(), source_path="about.md").slug, "about")


class FrontMatterAsWrittenTests(TestCase):
    def test_front_matter_and_body_are_the_file_text(self) -> None:
        text = "---\ntitle: 通知  \n\n# a comment\ndate: 2020-01-31\ntags: \n---  \n\n正文\n"
        document = parse(text)
        self.assertEqual(document.front_matter + document.body, text)
        self.assertEqual(document.body, "\n正文\n")

    def test_crlf_files_are_read_with_lf_and_remember_it(self) -> None:
        data = document_text().replace("\n", "\r\n").encode()
        document = parse_bytes(data, source_path="a.md", zone=SHANGHAI)
        self.assertEqual(document.source_format, {"encoding": "utf-8", "bom": False,
                                                  "newline": "\r\n"})  # fmt: skip
        self.assertEqual(encode_file(document.front_matter + document.body,
                                     document.source_format), data)  # fmt: skip

    def test_mixed_line_endings_are_kept_as_written(self) -> None:
        data = ("---\r\ntitle: 通知\ndate: 2020-01-31\r\n---\r\n第一行\r\n第二行\n").encode()
        document = parse_bytes(data, source_path="a.md", zone=SHANGHAI)
        self.assertEqual(document.title, "通知")
        self.assertEqual(document.body, "第一行\r\n第二行\n")
        self.assertEqual(document.source_format["newline"], "\n")
        text = document.front_matter + document.body
        self.assertEqual(encode_file(text, document.source_format), data)

    def test_bom_and_gb18030_are_remembered(self) -> None:
        for data in (b"\xef\xbb\xbf" + document_text().encode(), document_text().encode("gb18030")):
            document = parse_bytes(data, source_path="a.md", zone=SHANGHAI)
            text = document.front_matter + document.body
            self.assertEqual(encode_file(text, document.source_format), data)

    def test_duplicate_keys_are_imported_with_a_warning_naming_the_line(self) -> None:
        text = document_text().replace("date:", "video: a.mp4\nvideo: b.mp4\ndate:")
        document = parse(text)
        self.assertEqual(document.extra["video"], "b.mp4")
        self.assertEqual(len(document.warnings), 1)
        self.assertRegex(
            document.warnings[0], r"^notices/a.md:4: key 'video' appears on lines 3, 4"
        )
