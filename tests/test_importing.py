from __future__ import annotations

import io
import tempfile
from pathlib import Path
from unittest import mock

from django.core.management import call_command
from django.db import DatabaseError
from django.test import TestCase
from django.utils import timezone
from taggit.models import Tag

from notices.importing import _ImportRun, find_documents, import_archive
from notices.models import Category, Notice, OldAddress
from notices.permalinks import normalize_address
from tests.helpers import document_text, write_document


def urlname(n: int) -> str:
    return f"{n:032x}"


class ImportTestCase(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        self.log: list[tuple[str, str]] = []

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def run_import(self, **options):
        return import_archive(
            [self.root], log=lambda kind, msg: self.log.append((kind, msg)), **options
        )

    def write(self, name: str, n: int, **fields) -> Path:
        return write_document(self.root, name, urlname=urlname(n), **fields)


class ImportCountTests(ImportTestCase):
    def test_it_imports_a_folder_tree_and_reports_counts(self) -> None:
        self.write("2021/a.md", 1)
        self.write("2021/b.markdown", 2)
        self.write("2022/deep/c.txt", 3)
        report = self.run_import()
        self.assertEqual((report.created, report.failed, report.files), (3, 0, 3))
        self.assertEqual(Notice.objects.count(), 3)
        self.assertEqual(
            sorted(Notice.objects.values_list("source_path", flat=True)),
            ["2021/a.md", "2021/b.markdown", "2022/deep/c.txt"],
        )

    def test_it_skips_hidden_files_and_other_types_silently(self) -> None:
        self.write("a.md", 1)
        self.write(".draft.md", 2)
        self.write(".git/b.md", 3)
        (self.root / "photo.jpg").write_bytes(b"\xff\xd8\xff")
        report = self.run_import()
        self.assertEqual((report.files, report.created, report.failed), (1, 1, 0))

    def test_order_is_sorted(self) -> None:
        for name in ["b/z.md", "a.md", "b/a.md", "c.md"]:
            self.write(name, hash(name) % 1000)
        found = [f.source_path for f in find_documents(self.root)]
        self.assertEqual(found, ["a.md", "b/a.md", "b/z.md", "c.md"])

    def test_one_bad_file_among_good_ones(self) -> None:
        self.write("a.md", 1)
        (self.root / "b.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
        self.write("c.md", 3)
        report = self.run_import()
        self.assertEqual((report.created, report.failed), (2, 1))
        self.assertEqual(len(report.errors), 1)
        self.assertRegex(report.errors[0], r"^b\.md:\d+: invalid front matter")
        self.assertEqual(Notice.objects.count(), 2)

    def test_it_stores_every_field(self) -> None:
        self.write(
            "a.md", 1, tags=["青岚大学", "寒假"], extra_front_matter="place: 东区\nlayout: post"
        )
        self.run_import()
        notice = Notice.objects.get()
        self.assertEqual(notice.urlname, urlname(1))
        self.assertEqual(
            (notice.site, notice.title, notice.domain),
            ("青岚大学", "关于寒假安排的通知", "qinglan.edu.cn"),
        )
        self.assertEqual(notice.raw_title, "青岚大学->关于寒假安排的通知 | qinglan.edu.cn")
        self.assertEqual(notice.source_url, "https://news.qinglan.edu.cn/2021/0115/notice.html")
        self.assertEqual(notice.extra, {"place": "东区", "layout": "post"})
        self.assertEqual(sorted(notice.tags.names()), ["寒假", "青岚大学"])
        self.assertEqual(
            [c.full_name for c in notice.categories.all()], ["qinglan.edu.cn > 青岚大学"]
        )
        self.assertTrue(
            notice.body.endswith(
                "[转入文章首发地址](https://news.qinglan.edu.cn/2021/0115/notice.html)\n"
            )
        )
        self.assertIn("现将寒假安排通知如下", notice.body_html)
        self.assertNotIn("转入文章首发地址", notice.body_html)
        self.assertEqual(notice.summary, "现将寒假安排通知如下。")  # the address is skipped
        self.assertEqual(len(notice.content_hash), 64)
        self.assertIsNotNone(notice.imported_at)

    def test_categories_form_a_shared_tree(self) -> None:
        self.write("a.md", 1)
        self.write("b.md", 2, categories=["qinglan.edu.cn", "研究生院"])
        self.write("c.md", 3, extra_front_matter="", categories=[])
        self.run_import()
        root = Category.objects.get(parent=None)
        self.assertEqual(root.path, "qinglan-edu-cn")
        self.assertEqual(
            sorted(root.children.values_list("path", flat=True)),
            ["qinglan-edu-cn/研究生院", "qinglan-edu-cn/青岚大学"],
        )
        self.assertFalse(Notice.objects.get(urlname=urlname(3)).categories.exists())

    def test_several_category_paths(self) -> None:
        (self.root / "a.md").write_text(
            "---\ntitle: 多类\ndate: 2020-01-01\ncategories:\n- [a, b]\n- [c]\n---\n",
            encoding="utf-8",
        )
        self.run_import()
        notice = Notice.objects.get()
        self.assertEqual(sorted(c.path for c in notice.categories.all()), ["a/b", "c"])

    def test_missing_date_uses_file_time_with_a_warning(self) -> None:
        self.write("a.md", 1, date=None)
        report = self.run_import()
        self.assertEqual(report.created, 1)
        self.assertTrue(
            any(kind == "warning" and msg.startswith("a.md: ") for kind, msg in self.log)
        )


class ReimportTests(ImportTestCase):
    def test_an_unchanged_archive_is_not_rewritten(self) -> None:
        self.write("a.md", 1)
        self.write("b.md", 2)
        self.run_import()
        before = dict(Notice.objects.values_list("urlname", "imported_at"))
        report = self.run_import()
        self.assertEqual((report.created, report.updated, report.unchanged), (0, 0, 2))
        self.assertEqual(dict(Notice.objects.values_list("urlname", "imported_at")), before)

    def test_a_changed_file_updates_its_notice_and_replaces_tags(self) -> None:
        self.write("a.md", 1, tags=["旧标签"], categories=["old.edu.cn", "旧学校"])
        self.run_import()
        self.write("a.md", 1, tags=["新标签"], body="新的正文。\n")
        report = self.run_import()
        self.assertEqual((report.updated, report.created), (1, 0))
        notice = Notice.objects.get()
        self.assertEqual(list(notice.tags.names()), ["新标签"])
        self.assertIn("新的正文", notice.body_html)
        self.assertEqual([c.name for c in notice.categories.all()], ["青岚大学"])
        # Nothing uses the old tag or categories any more.
        self.assertFalse(Tag.objects.filter(name="旧标签").exists())
        self.assertFalse(Category.objects.filter(name__in=["旧学校", "old.edu.cn"]).exists())

    def test_a_notice_edited_in_the_admin_is_not_overwritten(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        Notice.objects.update(title="编辑改过的标题", edited_at=timezone.now())
        self.write("a.md", 1, body="文件里的新正文。\n")
        report = self.run_import()
        self.assertEqual((report.conflicts, report.updated), (1, 0))
        self.assertEqual(Notice.objects.get().title, "编辑改过的标题")
        self.assertTrue(any(kind == "conflict" and "a.md" in msg for kind, msg in self.log))

        report = self.run_import(overwrite=True)
        self.assertEqual((report.conflicts, report.updated), (0, 1))
        notice = Notice.objects.get()
        self.assertEqual(notice.title, "关于寒假安排的通知")
        self.assertFalse(notice.was_edited_since_import)

    def test_prune_deletes_notices_whose_file_is_gone(self) -> None:
        self.write("a.md", 1)
        gone = self.write("b.md", 2, tags=["只在b"])
        self.run_import()
        gone.unlink()
        report = self.run_import()
        self.assertEqual((report.pruned, Notice.objects.count()), (0, 2))
        report = self.run_import(prune=True)
        self.assertEqual(report.pruned, 1)
        self.assertEqual(list(Notice.objects.values_list("urlname", flat=True)), [urlname(1)])
        self.assertIn(("pruned", f"b.md: {urlname(2)}"), self.log)
        self.assertFalse(Tag.objects.filter(name="只在b").exists())

    def test_prune_keeps_a_notice_whose_file_is_now_broken(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        (self.root / "a.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
        report = self.run_import(prune=True)
        self.assertEqual((report.failed, report.pruned, Notice.objects.count()), (1, 0, 1))

    def test_dry_run_writes_nothing(self) -> None:
        self.write("a.md", 1)
        self.write("b.md", 2)
        report = self.run_import(dry_run=True)
        self.assertEqual((report.created, Notice.objects.count(), Tag.objects.count()), (2, 0, 0))
        self.assertTrue(report.summary().startswith("Dry run"))

    def test_a_renamed_urlname_updates_the_same_notice(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        original_id = Notice.objects.get().id
        self.write("a.md", 9)
        report = self.run_import()
        self.assertEqual((report.updated, report.created), (1, 0))
        self.assertEqual(Notice.objects.get().id, original_id)
        self.assertEqual(Notice.objects.get().urlname, urlname(9))

    def test_a_moved_file_keeps_its_notice(self) -> None:
        path = self.write("a.md", 1)
        self.run_import()
        path.rename(self.root / "moved.md")
        report = self.run_import(prune=True)
        self.assertEqual((report.updated, report.pruned, report.failed), (1, 0, 0))
        self.assertEqual(Notice.objects.get().source_path, "moved.md")


class DuplicateTests(ImportTestCase):
    def test_a_duplicate_urlname_is_rejected_naming_both_files(self) -> None:
        self.write("a.md", 1)
        self.write("b.md", 1, title="另一个->重复的通知 | other.edu.cn")
        report = self.run_import()
        self.assertEqual((report.created, report.failed), (1, 1))
        self.assertIn("b.md", report.errors[0])
        self.assertIn("a.md", report.errors[0])
        self.assertEqual(Notice.objects.get().source_path, "a.md")

    def test_a_new_file_reusing_an_imported_urlname_is_rejected(self) -> None:
        self.write("b.md", 1)
        self.run_import()
        self.write("a.md", 1)
        report = self.run_import()
        self.assertEqual((report.failed, report.unchanged), (1, 1))
        self.assertRegex(report.errors[0], r"^a\.md: duplicate urlname .* b\.md$")


class DatabaseRefusalTests(ImportTestCase):
    def test_a_notice_the_database_refuses_costs_only_itself(self) -> None:
        for n in range(1, 6):
            self.write(f"{n}.md", n, tags=[f"标签{n}"])
        real_build = _ImportRun.build

        def build(run, decision, parts, now):
            if decision.document.source_path == "3.md":
                raise DatabaseError("value too long")
            return real_build(run, decision, parts, now)

        with mock.patch.object(_ImportRun, "build", build):
            report = self.run_import(batch_size=10)
        self.assertEqual((report.created, report.failed), (4, 1))
        self.assertIn("3.md", report.errors[0])
        self.assertEqual(Notice.objects.count(), 4)
        self.assertFalse(Tag.objects.filter(name="标签3").exists())
        self.assertEqual(
            sorted(Tag.objects.values_list("name", flat=True)), ["标签1", "标签2", "标签4", "标签5"]
        )
        # The next run picks the file up once the database accepts it.
        report = self.run_import()
        self.assertEqual((report.created, report.unchanged), (1, 4))

    def test_batches_commit_independently(self) -> None:
        for n in range(1, 8):
            self.write(f"{n}.md", n)
        report = self.run_import(batch_size=3)
        self.assertEqual(report.created, 7)
        self.assertEqual(Notice.objects.count(), 7)


class DocumentTextHelperTests(TestCase):
    def test_fixture_documents_are_in_the_seed_layout(self) -> None:
        lines = document_text().splitlines()
        self.assertEqual(lines[0], "---")
        self.assertTrue(lines[1].startswith("title: "))
        self.assertTrue(lines[-1].startswith("[转入文章首发地址]("))


class SymlinkTests(ImportTestCase):
    def test_symlinks_leaving_the_archive_are_not_followed(self) -> None:
        self.write("a.md", 1)
        with tempfile.TemporaryDirectory() as outside:
            write_document(Path(outside), "secret.md", urlname=urlname(2))
            (self.root / "linked.md").symlink_to(Path(outside) / "secret.md")
            (self.root / "linked-dir").symlink_to(outside, target_is_directory=True)
            (self.root / "loop").symlink_to(self.root, target_is_directory=True)
            found = [f.source_path for f in find_documents(self.root)]
        self.assertEqual(found, ["a.md"])


class ArchiveFolderTests(ImportTestCase):
    """A urlname belongs to one file, across runs and import folders (issue 9)."""

    def setUp(self) -> None:
        super().setUp()
        self._other = tempfile.TemporaryDirectory()
        self.other_root = Path(self._other.name)

    def tearDown(self) -> None:
        self._other.cleanup()
        super().tearDown()

    def test_a_urlname_held_by_a_file_of_another_folder_is_rejected_naming_both(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        write_document(self.other_root, "x.md", urlname=urlname(1), title="别校->另一则 | b.edu.cn")
        report = import_archive([self.other_root])
        self.assertEqual((report.created, report.updated, report.failed), (0, 0, 1))
        self.assertIn("x.md: duplicate urlname", report.errors[0])
        self.assertIn(f"a.md (in {self.root.resolve()})", report.errors[0])
        notice = Notice.objects.get()
        self.assertEqual((notice.source_path, notice.site), ("a.md", "青岚大学"))
        # Importing the first folder again finds its notice as it was.
        self.assertEqual(self.run_import().unchanged, 1)

    def test_the_same_relative_path_in_two_folders_is_two_notices(self) -> None:
        self.write("a.md", 1)
        write_document(self.other_root, "a.md", urlname=urlname(2))
        report = import_archive([self.root, self.other_root])
        self.assertEqual((report.created, report.failed), (2, 0))
        roots = set(Notice.objects.values_list("archive_root", flat=True))
        self.assertEqual(roots, {str(self.root.resolve()), str(self.other_root.resolve())})
        self.assertEqual(import_archive([self.root, self.other_root]).unchanged, 2)

    def test_a_file_renamed_in_its_folder_between_runs_stays_an_update(self) -> None:
        path = self.write("a.md", 1)
        self.run_import()
        original_id = Notice.objects.get().id
        path.rename(self.root / "b.md")
        report = self.run_import()
        self.assertEqual((report.updated, report.created, report.failed), (1, 0, 0))
        self.assertEqual(Notice.objects.get().id, original_id)
        self.assertEqual(Notice.objects.get().source_path, "b.md")

    def test_a_copy_beside_the_original_is_rejected_even_in_a_later_run(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        self.write("copy.md", 1, title="复制->副本 | c.edu.cn")
        report = self.run_import()
        self.assertEqual((report.failed, report.unchanged, report.updated), (1, 1, 0))
        self.assertEqual(Notice.objects.get().source_path, "a.md")


class HexoFieldTests(ImportTestCase):
    def test_what_the_file_says_is_kept_for_a_faithful_export(self) -> None:
        data = document_text(date=None, extra_front_matter="updated: 2024-03-02 10:00:00\n")
        (self.root / "2024-03-01-lab-open-day.md").write_bytes(data.replace("\n", "\r\n").encode())
        self.run_import()
        notice = Notice.objects.get()
        self.assertEqual(notice.date_source, "file_name")
        self.assertEqual(timezone.localtime(notice.date).date().isoformat(), "2024-03-01")
        self.assertEqual(
            timezone.localtime(notice.updated).isoformat(), "2024-03-02T10:00:00+08:00"
        )
        self.assertEqual(notice.slug, "lab-open-day")
        self.assertEqual(notice.source_format, {"encoding": "utf-8", "bom": False,
                                                "newline": "\r\n"})  # fmt: skip
        self.assertEqual(notice.front_matter + notice.body, data)
        self.assertEqual(notice.archive_root, str(self.root.resolve()))
        warnings = [message for kind, message in self.log if kind == "warning"]
        self.assertEqual(warnings, ["2024-03-01-lab-open-day.md: no date in front matter; "
                                    "using the date in the file name (2024-03-01)"])  # fmt: skip

    def test_old_addresses_are_recorded_and_follow_the_file(self) -> None:
        path = self.root / "2018-11-10-lab-open-day.md"
        path.write_text(document_text(date="2018-11-10 09:00:00"), encoding="utf-8")
        self.run_import()
        notice = Notice.objects.get()
        expected = normalize_address("/2018/11/10/lab-open-day/")
        self.assertIn(expected, set(notice.old_addresses.values_list("path", flat=True)))
        path.write_text(document_text(date="2018-11-12 09:00:00"), encoding="utf-8")
        self.run_import()
        paths = set(OldAddress.objects.values_list("path", flat=True))
        self.assertNotIn(expected, paths)
        self.assertIn(normalize_address("/2018/11/12/lab-open-day/"), paths)

    def test_old_addresses_are_rebuilt_for_a_new_permalink_pattern(self) -> None:
        path = self.root / "2018-11-10-lab-open-day.md"
        path.write_text(document_text(date="2018-11-10 09:00:00"), encoding="utf-8")
        self.run_import()
        with self.settings(NOTICES_PERMALINK="news/:title.html"):
            self.assertEqual(self.run_import().unchanged, 1)  # an import leaves them alone
            call_command("rebuild_old_addresses", stdout=io.StringIO())
        paths = list(OldAddress.objects.values_list("path", flat=True))
        self.assertEqual(paths, [normalize_address("/news/lab-open-day.html")])

    def test_a_notice_imported_before_front_matter_was_kept_is_read_again(self) -> None:
        self.write("a.md", 1)
        self.run_import()
        Notice.objects.update(front_matter="", source_format={})  # as an older version left it
        report = self.run_import()
        self.assertEqual((report.updated, report.unchanged), (1, 0))
        notice = Notice.objects.get()
        self.assertEqual(notice.front_matter + notice.body, (self.root / "a.md").read_text())
        self.assertEqual(self.run_import().unchanged, 1)


class LinksBetweenPostsTests(ImportTestCase):
    """Links to other posts work whichever file is imported first (issue 9)."""

    def write_post(self, name: str, n: int, title: str, body: str) -> None:
        text = document_text(urlname=urlname(n), title=title, date="2018-11-10 09:00:00",
                             body=body, source_url=None)  # fmt: skip
        (self.root / name).write_text(text, encoding="utf-8")

    def test_a_post_link_to_a_later_file_shows_its_title(self) -> None:
        self.write_post("2018-11-10-a-first.md", 1, "第一篇", "见 {% post_link z-last %}。\n")
        self.write_post("2018-11-10-z-last.md", 2, "最后一篇说明", "正文\n")
        self.run_import(batch_size=1)
        html = Notice.objects.get(urlname=urlname(1)).body_html
        self.assertIn('href="/posts/z-last/"', html)
        self.assertIn("最后一篇说明", html)

    def test_a_link_to_an_old_address_points_at_the_notice_here(self) -> None:
        body = "见[旧文](/2018/11/10/z-last.html#part)与[外站](https://elsewhere.example/x/)。\n"
        self.write_post("2018-11-10-a-first.md", 1, "第一篇", body)
        self.write_post("2018-11-10-z-last.md", 2, "最后一篇", "正文\n")
        self.run_import(batch_size=1)
        html = Notice.objects.get(urlname=urlname(1)).body_html
        self.assertIn(f'href="/notices/{urlname(2)}/#part"', html)
        self.assertIn('href="https://elsewhere.example/x/"', html)

    def test_links_to_the_old_host_are_rewritten_when_it_is_named(self) -> None:
        body = "[旧文](https://blog.qinglan.example/2018/11/10/z-last/)\n"
        self.write_post("2018-11-10-a-first.md", 1, "第一篇", body)
        self.write_post("2018-11-10-z-last.md", 2, "最后一篇", "正文\n")
        with self.settings(NOTICES_OLD_HOSTS=["blog.qinglan.example"]):
            self.run_import()
        html = Notice.objects.get(urlname=urlname(1)).body_html
        self.assertIn(f'href="/notices/{urlname(2)}/"', html)

    def test_an_unknown_old_address_is_left_as_written(self) -> None:
        self.write_post("2018-11-10-a-first.md", 1, "第一篇", "[无](/2001/01/01/nothing/)\n")
        self.run_import()
        self.assertIn('href="/2001/01/01/nothing/"', Notice.objects.get().body_html)

    def test_render_notices_applies_a_new_setting_to_unchanged_files(self) -> None:
        body = "[旧文](https://blog.qinglan.example/2018/11/10/z-last/)\n"
        self.write_post("2018-11-10-a-first.md", 1, "第一篇", body)
        self.write_post("2018-11-10-z-last.md", 2, "最后一篇", "正文\n")
        self.run_import()
        with self.settings(NOTICES_OLD_HOSTS=["blog.qinglan.example"]):
            self.assertEqual(self.run_import().unchanged, 2)
            out = io.StringIO()
            call_command("render_notices", stdout=out)
        self.assertTrue(out.getvalue().startswith("1 notices changed"))
        html = Notice.objects.get(urlname=urlname(1)).body_html
        self.assertIn(f'href="/notices/{urlname(2)}/"', html)
