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
from tests.helpers import write_document


class ImportCommandTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def call(self, *args: str) -> tuple[str, str]:
        stdout, stderr = StringIO(), StringIO()
        call_command("import_notices", *args, stdout=stdout, stderr=stderr)
        return stdout.getvalue(), stderr.getvalue()

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
        stdout, _ = self.call(str(self.root), "--prune")
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
