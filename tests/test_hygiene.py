"""Issue 11, finding 10: bidi controls and zero-width characters in short fields."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.test import SimpleTestCase, TestCase
from django.utils import timezone

from notices.documents import parse_text, safe_http_url
from notices.exporting import export_file
from notices.hygiene import INVISIBLE_CHARACTERS, clean_field, has_invisible, strip_invisible
from notices.importing import import_archive
from notices.models import Category, Notice
from notices.tagging import parse_tags
from tests.helpers import document_text, write_document

RLO, PDI, ZWSP, ZWJ, BOM, LRM = "\u202e", "\u2069", "\u200b", "\u200d", "\ufeff", "\u200e"


class HygieneTests(SimpleTestCase):
    def test_every_listed_character_is_removed_and_nothing_else(self) -> None:
        listed = [chr(code) for code in range(0x202A, 0x202F)]
        listed += [chr(code) for code in range(0x2066, 0x206A)]
        listed += ["\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", BOM]
        self.assertEqual(sorted(INVISIBLE_CHARACTERS), sorted(listed))
        for char in listed:
            with self.subTest(char=hex(ord(char))):
                self.assertEqual(strip_invisible(f"青岚{char}大学"), "青岚大学")
                self.assertTrue(has_invisible(char))
        kept = "青岚大学 -> «通知» | qinglan.edu.cn — 2021年\u3000第1号 😀"
        self.assertEqual(clean_field(kept), (kept, 0))
        self.assertEqual(clean_field(f"{RLO}gpj.exe{PDI}{ZWSP}"), ("gpj.exe", 3))

    def test_tags_typed_in_the_admin_are_cleaned(self) -> None:
        self.assertEqual(parse_tags(f"寒{ZWSP}假, {RLO}招生"), ["寒假", "招生"])
        self.assertEqual(parse_tags(f"{ZWJ}, 研究生"), ["研究生"])

    def test_source_urls_with_invisible_or_blank_characters_are_refused(self) -> None:
        self.assertEqual(
            safe_http_url("https://qinglan.edu.cn/a?b=1#c"), "https://qinglan.edu.cn/a?b=1#c"
        )
        for url in [
            f"https://qinglan.edu.cn/{RLO}lmth.exe",
            f"https://qinglan{ZWSP}.edu.cn/",
            "https://qinglan.edu.cn/a\u3000b",
            "https://qinglan.edu.cn\\@evil.example/",
            'https://evil.example/"><script>alert(1)</script>',
            "ftp://qinglan.edu.cn/file",
            "javascript:alert(1)",
        ]:
            with self.subTest(url=url):
                self.assertEqual(safe_http_url(url), "")


class ImportHygieneTests(SimpleTestCase):
    def test_title_site_tags_categories_and_urlname_are_cleaned_with_warnings(self) -> None:
        text = document_text(
            title=f"青岚{RLO}大学->关于{ZWSP}寒假的通知 | qinglan.edu.cn",
            urlname=f"a1b2c3d4{ZWJ}e5f6",
            tags=[f"寒假{LRM}", "寒假", f"{BOM}招生"],
            categories=["qinglan.edu.cn", f"青岚{PDI}大学"],
        )
        document = parse_text(text, source_path="2021/hostile.md")
        self.assertEqual(document.site, "青岚大学")
        self.assertEqual(document.title, "关于寒假的通知")
        self.assertEqual(document.raw_title, "青岚大学->关于寒假的通知 | qinglan.edu.cn")
        self.assertEqual(document.urlname, "a1b2c3d4e5f6")
        self.assertEqual(document.tags, ["寒假", "招生"])
        self.assertEqual(document.category_paths, [["qinglan.edu.cn", "青岚大学"]])
        self.assertEqual(
            document.warnings,
            [
                "2021/hostile.md:2: title: removed 2 invisible characters (bidi controls or "
                "zero-width)",
                "2021/hostile.md:4: urlname: removed 1 invisible character (bidi controls or "
                "zero-width)",
                "2021/hostile.md:5: tags: removed 2 invisible characters (bidi controls or "
                "zero-width)",
                "2021/hostile.md:9: categories: removed 1 invisible character (bidi controls or "
                "zero-width)",
            ],
        )
        # The file as written is kept: hygiene changes fields, not the stored front matter.
        self.assertIn(RLO, document.front_matter)

    def test_a_clean_document_has_no_warning(self) -> None:
        self.assertEqual(parse_text(document_text(), source_path="clean.md").warnings, [])

    def test_an_invisible_only_urlname_is_derived_and_an_invisible_only_title_refused(
        self,
    ) -> None:
        document = parse_text(document_text(urlname=f"{ZWSP}{RLO}"), source_path="a/b.md")
        self.assertEqual(document.urlname[:4], "a-b-")
        with self.assertRaisesMessage(Exception, "missing or empty title"):
            parse_text(document_text(title=f"{ZWSP}{RLO}"), source_path="a/b.md")


class ImportedHygieneTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        self.addCleanup(self._tmp.cleanup)

    def test_import_reports_the_file_and_field_and_exports_the_file_unchanged(self) -> None:
        path = write_document(
            self.root,
            "hostile.md",
            title=f"{RLO}青岚大学->关于寒假的通知 | qinglan.edu.cn",
            tags=[f"寒{ZWSP}假"],
            categories=["qinglan.edu.cn", f"{RLO}青岚大学"],
        )
        log: list[tuple[str, str]] = []
        import_archive([self.root], log=lambda kind, message: log.append((kind, message)))
        warnings = [message for kind, message in log if kind == "warning"]
        self.assertEqual(len(warnings), 3, log)
        self.assertTrue(all(message.startswith("hostile.md:") for message in warnings))
        self.assertTrue(any(": title: removed 1 invisible" in message for message in warnings))
        self.assertTrue(any(": tags: removed 1 invisible" in message for message in warnings))

        notice = Notice.objects.get()
        self.assertEqual((notice.site, notice.title), ("青岚大学", "关于寒假的通知"))
        self.assertEqual(list(notice.tags.names()), ["寒假"])
        self.assertFalse(any(has_invisible(category.name) for category in Category.objects.all()))
        # Unedited: the export is the file's bytes, invisible characters and all.
        self.assertEqual(export_file(notice), path.read_bytes())

        # Edited elsewhere (the body): the title line of the file is kept as written.
        notice.body += "补充说明。\n"
        notice.mark_edited()
        notice.save()
        exported = export_file(notice).decode()
        self.assertIn(f"title: {RLO}青岚大学", exported)
        self.assertIn("补充说明。", exported)

        # A re-import of the unchanged file finds nothing to do.
        notice.edited_at = None
        notice.imported_at = timezone.now()
        notice.save()
        log.clear()
        import_archive([self.root], log=lambda kind, message: log.append((kind, message)))
        self.assertEqual(Notice.objects.get().title, "关于寒假的通知")
