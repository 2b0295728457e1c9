"""An import killed at any point leaves whole notices only, and a re-run finishes the job
exactly as an uninterrupted run would have (issue 6)."""

from __future__ import annotations

import multiprocessing
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

from django.db.backends.utils import CursorWrapper
from django.test import TestCase, TransactionTestCase
from taggit.models import Tag

from notices.exporting import notice_records
from notices.importing import import_archive
from notices.models import Category, Notice
from sample import write_archive
from tests.scratch_database import ScratchDatabase


class Interrupted(BaseException):
    """Like a KeyboardInterrupt: not an error the importer may catch and carry on from."""


def orphans() -> tuple[int, int]:
    tags = Tag.objects.filter(notices_taggednotice_items__isnull=True).count()
    categories = Category.objects.filter(notices__isnull=True, children__isnull=True).count()
    return tags, categories


class RaiseMidBatchTests(TestCase):
    """Interrupt the k-th write statement of an import, for several random k."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = Path(cls._tmp.name)
        write_archive(cls.root, 120, seed=66)

    @classmethod
    def tearDownClass(cls) -> None:
        cls._tmp.cleanup()
        super().tearDownClass()

    def wipe(self) -> None:
        Notice.objects.all().delete()
        Tag.objects.all().delete()
        Category.objects.all().delete()

    def test_a_rerun_after_an_interruption_equals_an_uninterrupted_run(self) -> None:
        import_archive([self.root], batch_size=25)
        expected = notice_records()
        writes = self.count_writes()
        for seed in range(4):
            stop_at = random.Random(seed).randrange(1, writes)
            with self.subTest(stop_at=stop_at):
                self.wipe()
                with self.assertRaises(Interrupted):
                    self.import_interrupted_at(stop_at)
                # The read-ahead worker processes ended with the import.
                self.assertEqual(multiprocessing.active_children(), [])
                partial = notice_records()
                self.assertLess(len(partial), len(expected))
                # Whatever was committed is whole: each notice exactly as the full run has it.
                for urlname, record in partial.items():
                    self.assertEqual(record, expected[urlname])
                self.assertEqual(orphans(), (0, 0))
                report = import_archive([self.root], batch_size=25)
                self.assertEqual(report.failed, 0)
                self.assertEqual(notice_records(), expected)
                self.assertEqual(orphans(), (0, 0))

    def count_writes(self) -> int:
        self.wipe()
        statements = []
        real_execute = CursorWrapper.execute

        def counting(cursor, sql, params=None):
            statements.append(sql)
            return real_execute(cursor, sql, params)

        with mock.patch.object(CursorWrapper, "execute", counting):
            import_archive([self.root], batch_size=25)
        return sum(sql.lstrip().upper().startswith(("INSERT", "UPDATE")) for sql in statements)

    def import_interrupted_at(self, stop_at: int) -> None:
        seen = 0
        real_execute = CursorWrapper.execute

        def interrupting(cursor, sql, params=None):
            nonlocal seen
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
                seen += 1
                if seen == stop_at:
                    raise Interrupted
            return real_execute(cursor, sql, params)

        with mock.patch.object(CursorWrapper, "execute", interrupting):
            import_archive([self.root], batch_size=25)


class SigtermTests(TransactionTestCase):
    """A real `manage.py import_notices` process, killed with SIGTERM mid-import."""

    def test_a_killed_import_process_leaves_whole_notices_and_a_rerun_completes_it(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            archive = tmp / "archive"
            write_archive(archive, 800, seed=7)
            with ScratchDatabase(tmp, "full") as full:
                result = full.manage("import_notices", str(archive), "--batch-size", "40")
                self.assertEqual(result.returncode, 0, result.stderr)
                expected = full.snapshot()["records"]
            with ScratchDatabase(tmp, "killed") as killed:
                process = subprocess.Popen(
                    killed.command("import_notices", str(archive), "--batch-size", "40", "-v2"),
                    env=killed.env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
                # Wait for the first committed batch, then kill at a random moment after it.
                first_line = process.stdout.readline()
                self.assertTrue(first_line.startswith("created: "), first_line)
                # Seeded: a failure names a moment that a re-run repeats.
                time.sleep(random.Random(1311).uniform(0.0, 0.4))
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=60)
                self.assertEqual(process.returncode, -signal.SIGTERM, "the import finished first")
                partial = killed.snapshot()
                self.assertLess(len(partial["records"]), len(expected))
                for urlname, record in partial["records"].items():
                    self.assertEqual(record, expected[urlname], urlname)
                self.assertEqual((partial["orphan_tags"], partial["orphan_categories"]), (0, 0))

                result = killed.manage("import_notices", str(archive), "--batch-size", "40")
                self.assertEqual(result.returncode, 0, result.stderr)
                final = killed.snapshot()
                self.assertEqual(final["records"], expected)
                self.assertEqual((final["orphan_tags"], final["orphan_categories"]), (0, 0))
