"""Hostile archives: every input imports or is rejected with a per-file error (issue 6).

The fuzz tests use hypothesis; their `deadline` is the "no input takes more than a second"
bound (a generous harness setting, not a speed test).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import tracemalloc
import unittest
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase, override_settings
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from notices.documents import (
    MAX_URLNAME_LENGTH,
    DocumentError,
    NoticeDocument,
    parse_bytes,
    parse_file,
    parse_text,
)
from notices.importing import import_archive
from notices.models import Category, Notice
from notices.rendering import (
    MAX_HTML_DEPTH,
    MAX_RENDERED_HTML,
    html_over_limit,
    nesting_depth,
    render_limit,
    render_notice_body,
)
from tests.helpers import write_document, write_files

FUZZ_DEADLINE = dt.timedelta(seconds=1)
# Examples per fuzz test in the suite; raise it for a longer hunt, e.g. NOTICES_FUZZ_EXAMPLES=20000.
FUZZ_EXAMPLES = int(os.environ.get("NOTICES_FUZZ_EXAMPLES", "300"))

HEAD = "---\ntitle: 标题\ndate: 2021-01-01\n"


def doc(front_matter: str, body: str = "正文\n") -> str:
    return f"{HEAD}{front_matter}---\n{body}"


def alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return doc("\n".join(lines) + "\n")


# name -> (document text, a fragment of the expected error or None when it must import)
HOSTILE_DOCUMENTS: dict[str, tuple[str, str | None]] = {
    "huge-int": (doc(f"n: !!int {'1' * 5000}\n"), "invalid front matter value"),
    "deep-yaml": (doc("n: " + "[" * 5000 + "]" * 5000 + "\n"), "nested too deeply"),
    "deep-yaml-mapping": (doc("n: " + "{a: " * 200 + "1" + "}" * 200 + "\n"), "nested too deeply"),
    "deep-json": (
        '{\n"title": "t", "date": "2021-01-01", "n": ' + "[" * 5000 + "]" * 5000 + "\n}\nb",
        "nested too deeply",
    ),
    "deep-toml": (
        '+++\ntitle = "t"\ndate = "2021-01-01"\nn = ' + "[" * 5000 + "]" * 5000 + "\n+++\nb",
        "nested too deeply",
    ),
    "alias-bomb": (alias_bomb(9), "too many values or aliases"),
    "json-nan": ('{\n"title": "t", "date": "2021-01-01", "n": NaN\n}\nb', "not finite"),
    "yaml-inf": (doc("n: !!float .inf\n"), "not finite"),
    "escaped-nul": (doc('n: "a\\0b"\n'), "NUL"),
    "escaped-nul-in-title": ('---\ntitle: "a\\x00b"\ndate: 2021-01-01\n---\nb', "NUL"),
    "escaped-lone-surrogate": (doc('n: "\\ud800"\n'), "invalid front matter"),
    "escaped-surrogate-pair": (doc('n: "\\ud83d\\ude00"\n'), "invalid front matter"),
    "binary": (doc("n: !!binary aGVsbG8=\n"), "type bytes is not supported"),
    # Found by the fuzzer: PyYAML's constructor raised AttributeError on these.
    "bad-timestamp-tag": (doc("n: [!!timestamp 0'2000-01-01 00:00:00']\n"), "invalid front matter"),
    "bad-binary-tag": (doc("n: !!binary 'a'\n"), "invalid front matter"),
    "bad-int-tag": (doc("n: !!int abc\n"), "invalid front matter"),
    "bad-float-tag": (doc("n: !!float x\n"), "invalid front matter"),
    "bad-map-tag": (doc("n: !!map [a]\n"), "invalid front matter"),
    "bad-omap-tag": (doc("n: !!omap {a: b}\n"), "invalid front matter"),
    "set": (doc("n: !!set {a, b}\n"), "type set is not supported"),
    "python-object": (
        doc("n: !!python/object/apply:os.system ['echo pwned']\n"),
        "invalid front matter",
    ),
    "unhashable-key": (doc("? [a, b]\n: c\n"), "invalid front matter"),
    "date-year-0": ("---\ntitle: t\ndate: 0000-01-01\n---\nb", "invalid date"),
    "date-overflows-utc": (
        "---\ntitle: t\ndate: 9999-12-31 23:00:00-10:00\n---\nb",
        "invalid date",
    ),
    "date-overflows-zone": ("---\ntitle: t\ndate: 9999-12-31 23:00:00Z\n---\nb", "invalid date"),
    "title-list": ("---\ntitle: [a, b]\ndate: 2021-01-01\n---\nb", "missing or empty title"),
    "title-mapping": ("---\ntitle: {a: b}\ndate: 2021-01-01\n---\nb", "missing or empty title"),
    "long-title-line": (
        "---\ntitle: " + "长" * 200_000 + "\ndate: 2021-01-01\n---\nb",
        "longer than",
    ),
    "long-urlname": (doc("urlname: " + "u" * (MAX_URLNAME_LENGTH + 1) + "\n"), "urlname"),
    "urlname-traversal": (doc("urlname: ..\n"), "urlname"),
    "urlname-slash": (doc("urlname: a/b\n"), "urlname"),
    "long-domain": ("---\ntitle: 站->题 | " + "a" * 300 + ".cn\ndate: 2021-01-01\n---\nb", None),
    "deep-category-path": (
        doc("categories: [" + ", ".join(f"c{i}" for i in range(30)) + "]\n"),
        "category path",
    ),
    "front-matter-list": ("---\n- a\n- b\n---\nb", "must be a mapping"),
    "never-closed": ("---\ntitle: t\ndate: 2021-01-01\nbody", "never closed"),
    "not-front-matter": ("just text", "no front matter"),
    "rtl-and-combining": (
        doc(
            "tags: [\u202eevil\u202c, e\u0301\u0302\u0303, \u200f\u05e9\u05dc\u05d5\u05dd]\n",
            "\u202e" + "\u0301" * 10_000 + "\n",
        ),
        None,
    ),
    "long-body-line": (doc("", "字" * 1_000_000 + "\n"), None),
    "deep-html-body": (doc("", "<div>" * 100_000), None),
    "deep-quote-body": (doc("", "> " * 50_000 + "x\n"), None),
    "random-types": (doc("tags: !!int 996\ncategories: !!bool true\nurlname: !!float 1e5\n"), None),
}


class HostileDocumentTests(unittest.TestCase):
    def test_each_hostile_document_imports_or_fails_with_a_clear_error(self) -> None:
        for name, (text, expected_error) in HOSTILE_DOCUMENTS.items():
            with self.subTest(name):
                path = f"hostile/{name}.md"
                if expected_error is None:
                    document = parse_text(text, source_path=path)
                    self.assertIsInstance(document, NoticeDocument)
                    render_notice_body(document.body, document.source_url)
                else:
                    with self.assertRaises(DocumentError) as caught:
                        parse_text(text, source_path=path)
                    self.assertTrue(str(caught.exception).startswith(path), caught.exception)
                    self.assertIn(expected_error, str(caught.exception))

    def test_an_over_long_domain_keeps_the_whole_title(self) -> None:
        text, _ = HOSTILE_DOCUMENTS["long-domain"]
        document = parse_text(text)
        self.assertEqual((document.site, document.domain), ("", ""))
        self.assertEqual(document.title, document.raw_title)

    def test_a_typed_urlname_stays_the_text_written(self) -> None:
        document = parse_text(HOSTILE_DOCUMENTS["random-types"][0])
        # An explicit YAML tag is the author's own choice of type, and it is honoured.
        self.assertEqual((document.urlname, document.tags), ("100000.0", ["996"]))
        for written in [
            "0123",
            "1e5",
            "3.89e+30",
            "38933846906738224000000000000000",
            "0x1F",
            "yes",
        ]:
            with self.subTest(written):
                self.assertEqual(parse_text(doc(f"urlname: {written}\n")).urlname, written)

    def test_an_alias_bomb_is_refused_without_expanding_it(self) -> None:
        tracemalloc.start()
        try:
            with self.assertRaises(DocumentError):
                parse_text(alias_bomb(12))  # 9**12 strings if expanded
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertLess(peak, 50 * 1024 * 1024)

    def test_deeply_nested_html_is_shown_as_text(self) -> None:
        html = render_notice_body("<div>" * 1000 + "<script>alert(1)</script>", "")
        self.assertIn("</p><pre>&lt;div&gt;", html)
        self.assertEqual(render_limit(html), "elements nested deeper than 256")
        self.assertNotIn("<script", html)


def wide_tables(tables: int, columns: int, rows: int) -> str:
    """GFM tables whose body rows have one cell each: cmark pads every row to full width."""
    header = "|" + "|".join(f"c{i}" for i in range(columns)) + "|\n|" + "---|" * columns + "\n"
    return "\n\n".join(header + "a\n" * rows for _ in range(tables))


class BoundedRenderingTests(unittest.TestCase):
    """Issue 11: findings 1 and 3, and `<code class>` of finding 10."""

    def assert_shown_as_text(self, body: str, limit: str) -> str:
        html = render_notice_body(body, "")
        self.assertIn(limit, render_limit(html) or "")
        self.assertTrue(html.startswith('<p class="render-limit">正文超出显示限制'), html[:200])
        self.assertLessEqual(len(html), MAX_RENDERED_HTML)
        self.assertNotIn("<div", html)
        return html

    def test_a_table_with_too_many_columns_is_not_rendered(self) -> None:
        # The probe's file: 16 tables × 1,000 columns × 1,000 one-cell rows (84 MB of HTML).
        self.assert_shown_as_text(wide_tables(16, 1_000, 1_000), "a table of 1,000 columns")

    def test_tables_with_too_many_cells_are_not_rendered(self) -> None:
        self.assert_shown_as_text(wide_tables(3, 90, 100), "cells")  # 27,270 cells
        self.assert_shown_as_text("<table><tr>" + "<td>x</td>" * 25_000 + "</table>", "cells")

    def test_ordinary_tables_render(self) -> None:
        html = render_notice_body(wide_tables(2, 20, 30) + "\n\n| a | b |\n|:-|-:|\n| 1 | 2 |", "")
        self.assertIsNone(render_limit(html))
        self.assertEqual(html.count("<td"), 2 * 20 * 30 + 2)

    def test_self_closing_divs_count_as_open(self) -> None:
        for count in (300, 20_000):
            with self.subTest(count=count):
                self.assert_shown_as_text("<div/>" * count + "x", "nested deeper than 256")

    def test_stray_end_tags_do_not_hide_nesting(self) -> None:
        bodies = {
            "leading ends": "</div>" * 1_000 + "<div>" * 300,
            "ends of unopened elements": "<div></span></p></li>" * 300,
            "end past a block": "<span><div></span>" * 300,  # the div keeps the span open
            "end past a table cell": "<b><table><td></b>" * 100,  # not in scope: ignored
            "formatting reopened": "".join(f"<p><i title={i}></p>" for i in range(300)) + "x",
            "svg breakout": "<svg><div/>" + "<path/>" * 300,
            "svg breakout by a closed element": "<svg><b>x</b>" + "<path/>" * 300,
            "self-closed and text": "<div/>x" * 300,
        }
        for name, body in bodies.items():
            with self.subTest(name):
                self.assertGreater(nesting_depth(body), MAX_HTML_DEPTH)
                self.assert_shown_as_text(body, "nested deeper than 256")

    def test_implied_ends_are_not_nesting(self) -> None:
        bodies = {
            "paragraphs": "<p>一段" * 1_000,
            "list items": "<ul>" + "<li><p>项" * 1_000 + "</ul>",
            "definitions": "<dl>" + "<dt>词<dd>释义" * 1_000 + "</dl>",
            "cells and rows": "<table>" + ("<tr>" + "<td>格" * 5) * 300 + "</table>",
            "bare cells": "<table>" + "<td>格" * 300 + "</table>" + "<table><tr><td>" * 2,
            "closed elements": "<div><b>粗</b><i>斜</i></div>\n" * 2_000,
            "svg shapes": "<svg>" + "<path/>" * 1_000 + "</svg>",
            "headings": "<h1>一<h2>二<h3>三" * 300,
        }
        for name, body in bodies.items():
            with self.subTest(name):
                self.assertLess(nesting_depth(body), 10)
                self.assertIsNone(render_limit(render_notice_body(body, "")))

    def test_a_body_over_the_size_limit_is_cut_text(self) -> None:
        body = "<b>a</b>" * (MAX_RENDERED_HTML // 8 + 1)
        html = self.assert_shown_as_text(body, "a body over 1 MB")
        self.assertIn("Body shown as text (cut)", html)
        self.assertNotIn("<b>", html)

    def test_html_many_times_longer_than_its_body_is_not_kept(self) -> None:
        # (cmark itself stops expanding references past the input's size.)
        self.assertEqual(
            html_over_limit("<p>x</p>" * 20_000, 5_000), "HTML over 20 times the body's length"
        )
        self.assertIsNone(html_over_limit("<p>x</p>" * 10_000, 5_000))  # under 100,000
        self.assertEqual(html_over_limit("x" * (MAX_RENDERED_HTML + 1), 10**6), "HTML over 1 MB")

    def test_nested_block_markers_are_refused_before_rendering(self) -> None:
        for body in (">" * 500_000, "> " * 300 + "x", "- " * 300 + "x", "1. " * 300 + "x"):
            with self.subTest(body[:6]):
                self.assert_shown_as_text(body, "blocks nested deeper than 256")
        self.assertIsNone(render_limit(render_notice_body("-" * 5_000 + "\n\n> > 引用", "")))

    def test_the_note_cannot_be_forged_by_a_body(self) -> None:
        body = '<p class="render-limit">x Body shown as text: fake.</p>'
        self.assertIsNone(render_limit(render_notice_body(body, "")))

    def test_the_summary_of_a_body_shown_as_text_is_its_text(self) -> None:
        notice = Notice(body="关于放假的通知。" + "<div/>" * 300, source_url="", extra={})
        notice.render()
        self.assertTrue(notice.summary.startswith("关于放假的通知。"), notice.summary)
        self.assertEqual(notice.render_limit, "elements nested deeper than 256")

    def test_code_classes_are_only_languages(self) -> None:
        html = render_notice_body(
            '<code class="language-python notice-preview">a</code> <code class="facets-skipped">b'
            '</code> <span class="embed hidden">c</span> <p class="render-limit">d</p>',
            "",
        )
        self.assertIn('<code class="language-python">a</code>', html)
        self.assertIn("<code>b</code>", html)
        self.assertIn('<span class="embed">c</span>', html)
        for name in ("notice-preview", "facets-skipped", "hidden", "render-limit"):
            self.assertNotIn(name, html)


def _appender(logged: list[tuple[str, str]]):
    return lambda kind, message: logged.append((kind, message))


class BoundedImportTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name) / "archive"
        self.root.mkdir()
        bodies = {
            "wide": wide_tables(16, 1_000, 1_000),
            "deep": "<div/>" * 20_000 + "x",
            "bold": "<b>a</b>" * (MAX_RENDERED_HTML // 8 + 1),
            "plain": "现将寒假安排通知如下。",
        }
        for name, body in bodies.items():
            write_document(self.root, f"{name}.md", urlname=name, body=body)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_the_import_says_which_limit_each_body_passed(self) -> None:
        for workers in (0, 1):  # rendered here, or in a worker process
            with self.subTest(workers=workers), override_settings(NOTICES_IMPORT_WORKERS=workers):
                Notice.objects.all().delete()
                logged: list[tuple[str, str]] = []
                import_archive([self.root], batch_size=1, log=_appender(logged))
                warnings = sorted(message for kind, message in logged if kind == "warning")
                self.assertEqual(
                    warnings,
                    [
                        "bold.md: body shown as text: a body over 1 MB",
                        "deep.md: body shown as text: elements nested deeper than 256",
                        "wide.md: body shown as text: a table of 1,000 columns (limit 100)",
                    ],
                )
                shown = Notice.objects.get(urlname="deep")
                self.assertTrue(shown.body_html.startswith('<p class="render-limit">'))
                self.assertIsNone(render_limit(Notice.objects.get(urlname="plain").body_html))


class FileLimitTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name) / "archive"
        self.root.mkdir()

    def tearDown(self) -> None:
        self._tmp.cleanup()

    @override_settings(NOTICES_MAX_FILE_BYTES=2_000)
    def test_a_file_over_the_size_limit_is_rejected_by_name(self) -> None:
        write_document(self.root, "big.md", urlname="big", body="长" * 1000)
        write_document(self.root, "small.md", urlname="small")
        stderr = StringIO()
        with self.assertRaises(CommandError):
            call_command("import_notices", str(self.root), stdout=StringIO(), stderr=stderr)
        self.assertIn("big.md: file is 3,", stderr.getvalue())
        self.assertIn("NOTICES_MAX_FILE_BYTES", stderr.getvalue())
        self.assertEqual(list(Notice.objects.values_list("urlname", flat=True)), ["small"])

    def test_parse_file_checks_the_limit_before_reading(self) -> None:
        path = write_document(self.root, "big.md", body="x" * 5000)
        with self.assertRaisesMessage(DocumentError, "larger than the limit of 1,000 bytes"):
            parse_file(path, root=self.root, max_bytes=1000)
        with self.assertRaisesMessage(DocumentError, "larger than the limit"):
            parse_bytes(path.read_bytes(), source_path="big.md", max_bytes=1000)

    def test_without_the_setting_a_file_over_five_megabytes_is_rejected(self) -> None:
        write_files(self.root, {"huge.md": b"x" * (5 * 1024 * 1024 + 1)})
        write_document(self.root, "small.md", urlname="small")
        report = import_archive([self.root])
        self.assertEqual((report.created, report.failed), (1, 1))
        [error] = report.errors
        self.assertIn("huge.md: file is 5,242,881 bytes, larger than the limit", error)


class SymlinkTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        base = Path(self._tmp.name)
        self.root, self.outside = base / "archive", base / "outside"
        self.root.mkdir()
        (self.outside / "secret").mkdir(parents=True)
        write_document(self.outside, "secret.md", urlname="outside-file")
        write_document(self.outside, "secret/deep.md", urlname="outside-dir")
        write_document(self.root, "real.md", urlname="inside")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def test_symlinks_leaving_the_archive_are_not_followed(self) -> None:
        os.symlink(self.outside / "secret.md", self.root / "link.md")
        os.symlink(self.outside / "secret", self.root / "linked-dir")
        os.symlink("../outside/secret.md", self.root / "relative.md")
        report = import_archive([self.root])
        self.assertEqual((report.files, report.failed), (1, 0))
        self.assertEqual(list(Notice.objects.values_list("urlname", flat=True)), ["inside"])

    def test_a_symlink_inside_the_archive_is_followed(self) -> None:
        (self.root / "sub").mkdir()
        write_document(self.root, "sub/target.md", urlname="target")
        os.symlink(self.root / "sub" / "target.md", self.root / "alias.md")
        report = import_archive([self.root])
        self.assertEqual(report.files, 3)
        # Both paths carry urlname "target": the second is a reported duplicate, not a crash.
        self.assertEqual(report.failed, 1)
        self.assertIn("duplicate urlname", report.errors[0])


# --- Fuzzing ----------------------------------------------------------------------------------

# Control, bidi, combining, line-separator and lone-surrogate characters, and YAML syntax.
SPECIAL_CHARACTERS = list(
    "\x00\x07\x1b\x7f\x85\xa0\u0301\u0302\u200b\u200e\u200f\u202a\u202e\u2028\u2029"
    "\ufeff\ufffd\ud800\udfff\U0001f600:#&*!|>'\"%@`-?[]{},\\\t\r~</ 转"
)
characters = st.one_of(st.characters(), st.sampled_from(SPECIAL_CHARACTERS))
texts = st.one_of(
    st.text(characters, max_size=30),
    st.sampled_from(
        [
            "yes",
            "on",
            "null",
            "~",
            "0123",
            "1e5",
            "2020-01-31",
            "2020-01-31 15:31:34",
            "a: b",
            "- x",
            "&a",
            "*a",
            "!!int",
            "<script>alert(1)</script>",
            "javascript:alert(1)",
            "站->题 | a.cn",
            "2021年1月1日",
        ]
    ),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["a", "长", "-", " ", "["]), st.integers(0, 3000)
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts,
    st.dates(),
    st.datetimes(),
    st.binary(max_size=8),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=15,
)
bodies = st.one_of(
    st.text(characters, max_size=300),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[转入文章首发地址](javascript:alert(1))",
            "<div>" * 3000,
            "> " * 3000 + "x",
            "|a" * 300 + "|\n" + "|-" * 300 + "|\n",
            "\u202e" * 5000,
        ]
    ),
    st.builds(
        lambda c, n: c * n, st.sampled_from(["字", "*", "_", "`", "["]), st.integers(0, 50_000)
    ),
)


@st.composite
def front_matter_documents(draw) -> bytes:
    """A document whose front matter has random types in every field, in any dialect."""
    data = {
        key: draw(values)
        for key in ("title", "date", "urlname", "tags", "categories")
        if draw(st.booleans()) or key == "title"
    }
    data.update(draw(st.dictionaries(texts, values, max_size=3)))
    dialect = draw(st.sampled_from(["yaml", "yaml-ascii", "yaml-flow", "json", "aliases", "raw"]))
    try:
        if dialect == "json":
            front = (
                "{\n"
                + json.dumps(data, default=str, ensure_ascii=draw(st.booleans()))[1:-1]
                + "\n}\n"
            )
        elif dialect == "aliases":
            front = (
                "---\n"
                + "".join(
                    f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 5 if i else ['x'])}]\n"
                    for i in range(draw(st.integers(1, 12)))
                )
                + yaml.safe_dump(data, allow_unicode=True)
                + "---\n"
            )
        elif dialect == "raw":
            front = "---\n" + draw(st.text(characters, max_size=200)) + "\n---\n"
        else:
            front = (
                "---\n"
                + yaml.safe_dump(
                    data,
                    allow_unicode=dialect != "yaml-ascii",
                    default_flow_style=dialect == "yaml-flow",
                    width=draw(st.sampled_from([80, 10**6])),
                )
                + "---\n"
            )
    except (yaml.YAMLError, TypeError, ValueError, RecursionError):
        assume(False)
    # Splice a few random characters into the front matter: broken syntax of every kind.
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(front)))
        front = front[:at] + draw(st.text(characters, max_size=3)) + front[at:]
    text = front + draw(bodies)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]))
    return text.encode(
        encoding, errors="surrogatepass" if encoding.startswith("utf-8") else "replace"
    )


def assert_storable(case: unittest.TestCase, document: NoticeDocument) -> None:
    """What the database needs from a parsed document, on SQLite and PostgreSQL alike."""
    case.assertTrue(document.title and len(document.raw_title) <= 500)
    case.assertLessEqual(len(document.urlname), MAX_URLNAME_LENGTH)
    case.assertLessEqual(max(len(document.site), len(document.domain)), 200)
    case.assertTrue(all(0 < len(tag) <= 100 for tag in document.tags))
    case.assertIsNotNone(document.date.tzinfo)
    json.dumps(document.extra, allow_nan=False)  # JSONField (jsonb refuses NaN)
    everything = json.dumps(
        [
            document.raw_title,
            document.urlname,
            document.tags,
            document.category_paths,
            document.extra,
        ],
        ensure_ascii=False,
    )
    case.assertNotIn("\x00", everything)
    everything.encode("utf-8")  # no unpaired surrogates


class ParserFuzzTests(unittest.TestCase):
    @pytest.mark.slow
    @hypothesis_settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=FUZZ_DEADLINE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(data=front_matter_documents())
    def test_any_document_parses_or_fails_with_a_document_error(self, data: bytes) -> None:
        try:
            document = parse_bytes(data, source_path="fuzz/doc.md", mtime=0.0, max_bytes=5 << 20)
        except DocumentError as exc:
            self.assertTrue(str(exc).startswith("fuzz/doc.md"))
            self.assertEqual(len(str(exc).splitlines()), 1, exc)
            return
        assert_storable(self, document)
        render_notice_body(document.body, document.source_url)

    @hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=FUZZ_DEADLINE)
    @given(data=st.binary(max_size=2000))
    def test_any_bytes_parse_or_fail_with_a_document_error(self, data: bytes) -> None:
        try:
            document = parse_bytes(
                b"---\ntitle: t\n" + data, source_path="fuzz/bytes.md", mtime=0.0
            )
        except DocumentError:
            return
        assert_storable(self, document)


class ImporterFuzzTests(HypothesisTestCase):
    """Random archives through the command: the good file always lands, nothing escapes."""

    @pytest.mark.slow
    @hypothesis_settings(
        max_examples=max(FUZZ_EXAMPLES // 3, 20),
        deadline=FUZZ_DEADLINE,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(files=st.lists(front_matter_documents(), min_size=1, max_size=3))
    def test_the_command_imports_or_reports_every_file(self, files: list[bytes]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            for number, data in enumerate(files):
                (root / f"fuzz-{number}.md").write_bytes(data)
            write_document(root, "good.md", urlname="always-good")
            stdout, stderr = StringIO(), StringIO()
            try:
                call_command("import_notices", str(root), stdout=stdout, stderr=stderr)
            except CommandError as exc:
                self.assertEqual(exc.returncode, 1)
        lines = stderr.getvalue().splitlines()
        errors = [line for line in lines if line and not line.startswith("warning: ")]
        self.assertTrue(all(line.startswith("fuzz-") for line in errors), errors)
        self.assertTrue(Notice.objects.filter(urlname="always-good").exists())
        summary = stdout.getvalue().strip().splitlines()[-1]
        self.assertIn(f"failed {len(errors)} ", summary)
        self.assertEqual(Notice.objects.count() + len(errors), len(files) + 1)
        # No half-written notice: each has its rendered body, and every category its path.
        self.assertFalse(Notice.objects.filter(body_html="").exclude(body="").exists())
        self.assertFalse(Category.objects.filter(path="").exists())
