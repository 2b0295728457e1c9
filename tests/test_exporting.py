from __future__ import annotations

import datetime as dt
import io
import os
import tempfile
import unittest
import zipfile
import zoneinfo
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notices.documents import parse_text
from notices.exporting import (
    ExportedNotice,
    export_document,
    notice_records,
    render_document,
    scalar,
)
from notices.importing import import_archive
from notices.models import Notice
from tests.helpers import make_notice

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
ARCHIVE = Path(settings.BASE_DIR) / "archive"

# A document in the seed's layout: exported back byte for byte.
CANONICAL = """---
title: 青岚大学->关于2021年寒假放假安排的通知 | qinglan.edu.cn
date: 2021-01-15 09:30:00
urlname: 0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b
tags:
- 青岚大学
- 放假
categories:
- qinglan.edu.cn
- 青岚大学
---
各学院、各部门：

现将2021年寒假放假安排通知如下。

[转入文章首发地址](https://news.qinglan.edu.cn/2021/0115/notice.html)
"""

# Documents that are not in the canonical layout: they must come back as the same notices.
TRICKY_DOCUMENTS = {
    "yaml-typing.md": """---
title: 'yes'
date: 2021/3/4 5:06
urlname: 1e5
tags: [996, on, null-ish, "null", ~, 2021-01-01, ' padded ', 'a: b', '#hash', '- dash']
categories: [[学校, 教务处], [学校], [其它]]
description: "first line\\nsecond line"
draft: 'true'
empty:
count: !!int 12
ratio: !!float 0.5
flag: !!bool false
nested: {a: [1, {b: 'c # d'}], 'k: v': ''}
---
Body with --- inside
---
and a last line without newline""",
    "json.md": """{
  "title": "站点->JSON 标题 | json.example.org",
  "date": "2020-02-03T04:05:06+00:00",
  "urlname": "json-doc",
  "tags": "one tag",
  "categories": "single",
  "weight": 3,
  "score": 1.25,
  "published": true,
  "authors": ["甲", "乙"],
  "meta": {"x": null, "y": [true, 2]}
}
正文。
""",
    "toml.md": """+++
title = "TOML 文档"
date = 2019-05-06T07:08:09.123456+08:00
urlname = "toml-doc"
tags = ["t1"]
when = 2019-05-06
+++
toml body
""",
    "crlf.md": (
        "\ufeff---\r\ntitle: CRLF 文档\r\ndate: 2020-01-01\r\nurlname: crlf-doc\r\n---\r\nline\r\n"
    ),
    "nested/no-urlname.md": (
        "---\ntitle: 没有 urlname\ndate: 2020-01-01 12:00:00\n---\n\n\nbody after blanks\n"
    ),
    "weird-keys.md": """---
title: "  spaced title  "
date: 2020-01-01
urlname: weird-keys
"key with: colon": 1
"#hash key": x
"null": y
'': empty key
"rtl": "مرحبا بالعالم"
combining: "e\\u0301\\u0302"
emoji: "😀 \\U0001F600"
ctrl: "bell\\x07 nel\\x85 ls\\u2028"
---
body
""",
}


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


class RoundTripTestCase(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def import_root(self, root: Path) -> None:
        report = import_archive([root])
        self.assertEqual(report.failed, 0, report.errors)

    def export(self, *args: str) -> Path:
        out = self.tmp / f"out{len(list(self.tmp.iterdir()))}"
        call_command("export_notices", str(out), *args, stdout=StringIO())
        return out

    def assert_round_trip(self, root: Path, *, byte_for_byte: bool) -> None:
        """import root -> export -> wipe -> import the export: the same notices."""
        self.import_root(root)
        before = notice_records(with_hash=byte_for_byte)
        out = self.export()
        Notice.objects.all().delete()
        self.import_root(out)
        self.assertEqual(notice_records(with_hash=byte_for_byte), before)
        if byte_for_byte:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                exported = out / path.relative_to(root)
                self.assertEqual(exported.read_bytes(), path.read_bytes(), path)


class CanonicalExportTests(RoundTripTestCase):
    def test_it_writes_a_canonical_document_back_byte_for_byte(self) -> None:
        write_files(self.tmp / "in", {"2021/notice.md": CANONICAL})
        self.assert_round_trip(self.tmp / "in", byte_for_byte=True)

    def test_it_writes_a_notice_without_tags_or_categories(self) -> None:
        text = CANONICAL.replace("- 青岚大学\n- 放假\n", "").replace(
            "- qinglan.edu.cn\n- 青岚大学\n", ""
        )
        write_files(self.tmp / "in", {"bare.md": text})
        self.assert_round_trip(self.tmp / "in", byte_for_byte=True)

    def test_it_reproduces_the_project_archive_byte_for_byte(self) -> None:
        if not ARCHIVE.is_dir():
            self.skipTest("the project has no archive/ folder yet")
        self.assert_round_trip(ARCHIVE, byte_for_byte=True)

    def test_it_round_trips_a_generated_archive(self) -> None:
        from notices.generator import write_archive

        write_archive(self.tmp / "gen", 300, seed=6)
        self.assert_round_trip(self.tmp / "gen", byte_for_byte=True)


class TrickyRoundTripTests(RoundTripTestCase):
    def test_documents_in_other_layouts_come_back_byte_for_byte(self) -> None:
        write_files(self.tmp / "in", TRICKY_DOCUMENTS)
        self.assert_round_trip(self.tmp / "in", byte_for_byte=True)

    def test_yaml_lookalikes_stay_text(self) -> None:
        write_files(self.tmp / "in", TRICKY_DOCUMENTS)
        self.import_root(self.tmp / "in")
        text = export_document(Notice.objects.get(urlname="1e5"))
        document = parse_text(text, source_path="x.md")
        self.assertEqual(document.raw_title, "yes")
        self.assertEqual(document.urlname, "1e5")
        self.assertEqual(
            document.tags,
            ["996", "on", "null-ish", "null", "2021-01-01", "padded", "a: b", "#hash", "- dash"],
        )
        self.assertEqual(document.extra["draft"], "true")
        self.assertEqual(document.extra["count"], 12)
        self.assertIs(document.extra["flag"], False)
        self.assertIsNone(document.extra["empty"])
        self.assertEqual(document.category_paths, [["学校", "教务处"], ["学校"], ["其它"]])

    def test_a_notice_without_a_file_keeps_the_typed_values_of_its_extra(self) -> None:
        # Imported files come back as written (JSON stays JSON); a notice made in the admin
        # is written in the project's layout, where typed values carry their YAML tags.
        notice = make_notice(
            urlname="typed",
            extra={"weight": 3, "published": True, "meta": {"x": None, "y": [True, 2]}},
            date=dt.datetime(2020, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        )
        text = export_document(notice)
        self.assertIn("weight: !!int 3\n", text)
        self.assertIn("published: !!bool true\n", text)
        self.assertIn("date: 2020-02-03 12:05:06\n", text)  # UTC 04:05 is 12:05 in Shanghai
        self.assertEqual(parse_text(text).extra["meta"], {"x": None, "y": [True, 2]})

    def test_an_admin_edit_of_the_title_is_exported(self) -> None:
        notice = make_notice(urlname="edited")
        notice.title = "改过的标题"
        notice.save()
        document = parse_text(export_document(notice))
        self.assertEqual(
            (document.site, document.title, document.domain),
            ("青岚大学", "改过的标题", "qinglan.edu.cn"),
        )


text_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text_values,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(text_values, children, max_size=3)
    ),
    max_leaves=8,
)
names = text_values.map(str.strip).filter(bool)


EXPORT_EXAMPLES = int(os.environ.get("NOTICES_FUZZ_EXAMPLES", "300"))


class ExportPropertyTests(unittest.TestCase):  # pure: no database
    @hypothesis_settings(
        max_examples=EXPORT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(
        title=names.filter(lambda t: len(t) <= 500),
        tags=st.lists(names, max_size=4, unique=True),
        paths=st.lists(st.lists(names, min_size=1, max_size=3, unique=True), max_size=3),
        extra=st.dictionaries(
            text_values.filter(
                lambda k: k not in {"title", "date", "urlname", "tags", "categories"}
            ),
            json_values,
            max_size=4,
        ),
        body=st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"),
            max_size=200,
        ),
    )
    def test_any_text_reads_back_as_written(self, title, tags, paths, extra, body) -> None:
        notice = Notice(
            urlname="u1",
            raw_title=title,
            title="",
            site="",
            domain="",
            body=body,
            date=dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=SHANGHAI),
            extra=extra,
        )
        # Titles are only what split_title gives back, so take the parser's own split.
        from notices.documents import split_title

        notice.site, notice.title, notice.domain = split_title(title)
        paths = [p for i, p in enumerate(paths) if p not in paths[:i]]
        text = render_document(ExportedNotice(notice, tags, paths), zone=SHANGHAI)
        document = parse_text(text, source_path="p.md")
        self.assertEqual(document.raw_title, title)
        self.assertEqual(document.tags, tags)
        self.assertEqual(document.category_paths, paths)
        self.assertEqual(document.extra, extra)
        self.assertEqual(document.body, body)
        self.assertEqual(document.date, notice.date)

    def test_scalars_that_yaml_would_retype_are_quoted(self) -> None:
        for text in [
            "null",
            "~",
            "Null",
            "a # b",
            "a: b",
            " lead",
            "trail ",
            "'q'",
            "[x]",
            "&a",
            "*a",
            "!tag",
            "%x",
            "@x",
            "`x",
            "|",
            ">",
            "- x",
            "? x",
            "line\nbreak",
        ]:
            with self.subTest(text=text):
                self.assertTrue(scalar(text).startswith('"'), scalar(text))
        for text in [
            "yes",
            "on",
            "0123",
            "1e5",
            "996",
            "2020-01-01",
            "北岭工程大学->标题 | a.cn",
        ]:
            with self.subTest(text=text):
                self.assertEqual(scalar(text), text)


class ExportCommandTests(RoundTripTestCase):
    def setUp(self) -> None:
        super().setUp()
        write_files(
            self.tmp / "in",
            {
                "a/one.md": CANONICAL,
                "b/two.md": CANONICAL.replace("0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b", "two")
                .replace("2021-01-15", "2022-06-01")
                .replace("- 放假\n", "- 招生\n")
                .replace("qinglan.edu.cn\n- 青岚大学", "other.edu.cn\n- 别的大学")
                .replace("青岚大学->", "别的大学->"),
            },
        )
        self.import_root(self.tmp / "in")

    def exported_names(self, *args: str) -> list[str]:
        out = self.export(*args)
        return sorted(p.relative_to(out).as_posix() for p in out.rglob("*.md"))

    def test_it_writes_each_notice_at_its_source_path(self) -> None:
        self.assertEqual(self.exported_names(), ["a/one.md", "b/two.md"])

    def test_it_filters_by_category_tag_site_and_dates(self) -> None:
        self.assertEqual(self.exported_names("--category", "other-edu-cn"), ["b/two.md"])
        self.assertEqual(
            self.exported_names("--category", "qinglan.edu.cn > 青岚大学"), ["a/one.md"]
        )
        self.assertEqual(self.exported_names("--tag", "招生"), ["b/two.md"])
        self.assertEqual(self.exported_names("--site", "青岚大学"), ["a/one.md"])
        self.assertEqual(self.exported_names("--since", "2022-06-01"), ["b/two.md"])
        self.assertEqual(self.exported_names("--until", "2021-01-15"), ["a/one.md"])
        self.assertEqual(self.exported_names("--since", "2030-01-01"), [])

    def test_it_rejects_a_malformed_date(self) -> None:
        with self.assertRaisesMessage(CommandError, "not a date"):
            self.export("--since", "yesterday")

    def test_an_unsafe_source_path_is_replaced_by_the_urlname(self) -> None:
        Notice.objects.filter(urlname="two").update(source_path="../../etc/evil.md")
        self.assertEqual(self.exported_names(), ["a/one.md", "two.md"])


class AdminExportTests(RoundTripTestCase):
    def test_export_selected_returns_the_documents_as_a_zip(self) -> None:
        write_files(self.tmp / "in", {"2021/notice.md": CANONICAL})
        self.import_root(self.tmp / "in")
        admin = get_user_model().objects.create_superuser(
            "admin", "a@example.org", "pw-long-enough"
        )
        self.client.force_login(admin)
        response = self.client.post(
            reverse("admin:notices_notice_changelist"),
            {
                "action": "export_selected",
                "_selected_action": list(Notice.objects.values_list("pk", flat=True)),
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/zip")
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            self.assertEqual(archive.namelist(), ["2021/notice.md"])
            self.assertEqual(archive.read("2021/notice.md").decode(), CANONICAL)
