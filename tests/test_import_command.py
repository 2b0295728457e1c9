from __future__ import annotations

import subprocess
import sys
import tempfile
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase

from notices.models import Notice
from tests.helpers import make_notice, write_document


class CommandTestCase(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def call(self, *args: str) -> tuple[str, str]:
        stdout, stderr = StringIO(), StringIO()
        call_command("import_notices", *args, stdout=stdout, stderr=stderr)
        return stdout.getvalue(), stderr.getvalue()


class ImportCommandTests(CommandTestCase):
    def test_it_ends_with_one_summary_line(self) -> None:
        write_document(self.root, "a.md")
        stdout, stderr = self.call(str(self.root))
        self.assertRegex(
            stdout.strip(),
            r"^created 1, updated 0, unchanged 0, conflicts 0, pruned 0, failed 0 "
            r"in \d+\.\d\d s \([\d,]+ docs/s\)$",
        )
        self.assertEqual(stderr, "")

    def test_a_rejected_file_gets_one_line_and_status_1(self) -> None:
        write_document(self.root, "good.md")
        (self.root / "bad.md").write_text(
            "---\ntitle: 标题\ndate: 2020-02-30\n---\n", encoding="utf-8"
        )
        stdout, stderr = StringIO(), StringIO()
        with self.assertRaises(CommandError) as caught:
            call_command("import_notices", str(self.root), stdout=stdout, stderr=stderr)
        self.assertEqual(caught.exception.returncode, 1)
        self.assertEqual(
            stderr.getvalue().strip().splitlines(),
            ["bad.md:3: invalid date: day is out of range for month"],
        )
        self.assertIn("created 1", stdout.getvalue())
        self.assertIn("failed 1", stdout.getvalue())
        self.assertEqual(Notice.objects.count(), 1)

    def test_a_missing_path_is_a_usage_error(self) -> None:
        with self.assertRaises(CommandError) as caught:
            self.call(str(self.root / "nope"))
        self.assertEqual(caught.exception.returncode, 2)
        self.assertIn("nope", str(caught.exception))

    def test_options_reach_the_importer(self) -> None:
        write_document(self.root, "a.md")
        stdout, _ = self.call(str(self.root), "--dry-run")
        self.assertTrue(stdout.startswith("Dry run: would have created 1"))
        self.assertEqual(Notice.objects.count(), 0)
        self.call(str(self.root))
        (self.root / "a.md").unlink()
        stdout, _ = self.call(str(self.root), "--prune", "--yes")  # 1 of 1: past the share
        self.assertIn("pruned: a.md", stdout)
        self.assertEqual(Notice.objects.count(), 0)

    def test_verbose_output_names_each_file(self) -> None:
        write_document(self.root, "a.md")
        stdout, _ = self.call(str(self.root), "-v", "2")
        self.assertIn("created: a.md", stdout)

    def test_quiet_output_is_empty_when_all_is_well(self) -> None:
        write_document(self.root, "a.md")
        self.assertEqual(self.call(str(self.root), "-v", "0"), ("", ""))

    def test_it_imports_the_project_archive_by_default(self) -> None:
        stdout, stderr = self.call()
        self.assertEqual(stderr, "")
        count = sum(1 for _ in Path(settings.NOTICES_ARCHIVE_DIR).rglob("*.md"))
        self.assertGreaterEqual(count, 40)
        self.assertEqual(Notice.objects.count(), count)
        self.assertIn(f"created {count}", stdout)


class DryRunNamingTests(CommandTestCase):
    """`--dry-run -v 2` names what it would do to each file (issue 10)."""

    def test_it_names_every_file_it_would_create_update_hold_back_or_prune(self) -> None:
        for name in ("changed.md", "edited.md", "gone.md", "same.md"):
            write_document(self.root, name, urlname=name.removesuffix(".md"))
        self.call(str(self.root))
        write_document(self.root, "new.md", urlname="new")
        write_document(self.root, "changed.md", urlname="changed", body="正文改了。\n")
        write_document(self.root, "edited.md", urlname="edited", body="文件也改了。\n")
        edited = Notice.objects.get(urlname="edited")
        edited.mark_edited()
        edited.save()
        (self.root / "gone.md").unlink()

        stdout, stderr = self.call(str(self.root), "--dry-run", "--prune", "-v", "2")

        self.assertEqual(
            stdout.splitlines()[:-1],
            ["would update: changed.md", "would create: new.md", "would prune: gone.md: gone"],
        )
        self.assertTrue(
            stdout.splitlines()[-1].startswith(
                "Dry run: would have created 1, updated 1, unchanged 1, conflicts 1, pruned 1"
            )
        )
        self.assertRegex(stderr, r"^would hold back: edited\.md: notice 'edited' was edited")
        self.assertIn("warning: --prune would delete 1 of 4 notices (25%)", stderr)
        self.assertEqual(Notice.objects.count(), 4)
        self.assertFalse(Notice.objects.filter(urlname="new").exists())

    def test_a_real_run_still_says_what_it_did(self) -> None:
        write_document(self.root, "a.md")
        stdout, _ = self.call(str(self.root), "-v", "2")
        self.assertIn("created: a.md", stdout.splitlines())


class PruneGuardTests(CommandTestCase):
    """`--prune` given the wrong folder must not delete the archive (issue 10)."""

    def setUp(self) -> None:
        super().setUp()
        self.archive = self.root / "archive"
        for index in range(20):
            write_document(self.archive, f"n{index:02}.md", urlname=f"n{index:02}")
        self.call(str(self.archive))
        self.other = self.root / "other"
        write_document(self.other, "stray.md", urlname="stray")

    def test_it_refuses_to_delete_more_than_the_share_and_changes_nothing(self) -> None:
        stdout, stderr = StringIO(), StringIO()
        with self.assertRaises(CommandError) as caught:
            call_command("import_notices", str(self.other), "--prune", stdout=stdout, stderr=stderr)
        self.assertEqual(caught.exception.returncode, 2)
        self.assertEqual(
            str(caught.exception),
            f"--prune would delete 20 of 20 notices (100%), more than NOTICES_PRUNE_MAX_SHARE "
            f"10%: their files are not under {self.other} (20 from {self.archive.resolve()}); "
            "run again with --yes to delete them",
        )
        self.assertEqual(Notice.objects.count(), 20)  # nothing deleted, nothing imported
        self.assertFalse(Notice.objects.filter(urlname="stray").exists())
        self.assertEqual(stdout.getvalue(), "")

    def test_yes_deletes_them(self) -> None:
        stdout, _ = self.call(str(self.other), "--prune", "--yes")
        self.assertIn("pruned 20", stdout)
        self.assertEqual(list(Notice.objects.values_list("urlname", flat=True)), ["stray"])

    def test_within_the_share_it_prunes_without_asking(self) -> None:
        (self.archive / "n00.md").unlink()
        (self.archive / "n01.md").unlink()
        stdout, _ = self.call(str(self.archive), "--prune")  # 2 of 20 = 10 %: allowed
        self.assertIn("pruned 2", stdout)
        self.assertEqual(Notice.objects.count(), 18)

    def test_the_share_is_a_setting(self) -> None:
        (self.archive / "n00.md").unlink()
        with self.settings(NOTICES_PRUNE_MAX_SHARE=0.0), self.assertRaises(CommandError):
            self.call(str(self.archive), "--prune")
        self.assertEqual(Notice.objects.count(), 20)


class NoticeStatusTests(CommandTestCase):
    def status(self) -> list[str]:
        stdout = StringIO()
        call_command("notice_status", stdout=stdout)
        return stdout.getvalue().splitlines()

    def test_it_lists_each_notice_that_differs_and_why(self) -> None:
        with self.settings(NOTICES_ARCHIVE_DIR=self.root):
            for name in ("changed.md", "both.md", "edited.md", "gone.md", "same.md"):
                write_document(self.root, name, urlname=name.removesuffix(".md"))
            self.call(str(self.root))
            for urlname in ("both", "edited"):
                notice = Notice.objects.get(urlname=urlname)
                notice.mark_edited()
                notice.save()
            for name in ("changed.md", "both.md"):
                write_document(self.root, name, urlname=name.removesuffix(".md"), body="新正文\n")
            (self.root / "gone.md").unlink()
            make_notice(urlname="made-here", source_path="")

            lines = self.status()

        self.assertEqual(
            lines,
            [
                "no file: (no file) (made-here): made here, no archive file yet "
                "(write_back creates one)",
                "conflict: both.md (both): edited here, and its file changed since the import",
                "file changed since: changed.md (changed): its file changed since the import "
                "(import_notices reads it)",
                "edited here: edited.md (edited): edited here since the import "
                "(write_back writes it to the file)",
                f"file missing: gone.md (gone): its file is gone ({self.root.resolve()}/gone.md)",
                "5 of 6 notices differ from their files: edited here 1, file changed since 1, "
                "conflict 1, file missing 1, no file 1, in sync 1",
            ],
        )

    def test_all_in_sync_is_one_line(self) -> None:
        write_document(self.root, "a.md")
        self.call(str(self.root))
        self.assertEqual(
            self.status(),
            [
                "0 of 1 notices differ from their files: edited here 0, file changed since 0, "
                "conflict 0, file missing 0, no file 0, in sync 1"
            ],
        )


class ExitStatusTests(TestCase):
    """The real process exit codes an operator's script sees."""

    def test_usage_errors_exit_2(self) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", "import_notices", "/nonexistent/archive"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("/nonexistent/archive: no such file or folder", result.stderr)
