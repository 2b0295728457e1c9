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
from notices.rendering import render_notice_body
from tests.helpers import document_text

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
        self.assertTrue(html.startswith("<pre>&lt;div&gt;"))
        self.assertNotIn("<script", html)


class FileLimitTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name) / "archive"
        self.root.mkdir()

    def tearDown(self) -> None:
        self._tmp.cleanup()

    @override_settings(NOTICES_MAX_FILE_BYTES=2_000)
    def test_a_file_over_the_size_limit_is_rejected_by_name(self) -> None:
        (self.root / "big.md").write_text(document_text(urlname="big", body="长" * 1000), "utf-8")
        (self.root / "small.md").write_text(document_text(urlname="small"), "utf-8")
        stderr = StringIO()
        with self.assertRaises(CommandError):
            call_command("import_notices", str(self.root), stdout=StringIO(), stderr=stderr)
        self.assertIn("big.md: file is 3,", stderr.getvalue())
        self.assertIn("NOTICES_MAX_FILE_BYTES", stderr.getvalue())
        self.assertEqual(list(Notice.objects.values_list("urlname", flat=True)), ["small"])

    def test_parse_file_checks_the_limit_before_reading(self) -> None:
        path = self.root / "big.md"
        path.write_text(document_text(body="x" * 5000), "utf-8")
        with self.assertRaisesMessage(DocumentError, "larger than the limit of 1,000 bytes"):
            parse_file(path, root=self.root, max_bytes=1000)
        with self.assertRaisesMessage(DocumentError, "larger than the limit"):
            parse_bytes(path.read_bytes(), source_path="big.md", max_bytes=1000)

    def test_the_default_limit_is_a_few_megabytes(self) -> None:
        from django.conf import settings

        self.assertEqual(settings.NOTICES_MAX_FILE_BYTES, 5 * 1024 * 1024)


class SymlinkTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        base = Path(self._tmp.name)
        self.root, self.outside = base / "archive", base / "outside"
        self.root.mkdir()
        (self.outside / "secret").mkdir(parents=True)
        (self.outside / "secret.md").write_text(document_text(urlname="outside-file"), "utf-8")
        (self.outside / "secret" / "deep.md").write_text(
            document_text(urlname="outside-dir"), "utf-8"
        )
        (self.root / "real.md").write_text(document_text(urlname="inside"), "utf-8")

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
        (self.root / "sub" / "target.md").write_text(document_text(urlname="target"), "utf-8")
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
            (root / "good.md").write_text(document_text(urlname="always-good"), "utf-8")
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
