"""The importer looks notices up per batch (issue 13): what a file decides by must not depend on
which batch an earlier file was in, and the lookup by path reads the index alone."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db import connection, transaction
from django.test import TestCase

from notices.importing import existing_notices, import_archive
from notices.models import Notice
from tests.helpers import write_document
from tests.test_importing import ImportTestCase, urlname


class BatchLookupTests(ImportTestCase):
    def run_import(self, roots=None, **options):
        return import_archive(
            roots or [self.root],
            batch_size=1,  # every file in a batch of its own
            log=lambda kind, msg: self.log.append((kind, msg)),
            **options,
        )

    def errors(self) -> list[str]:
        return [message for kind, message in self.log if kind == "error"]

    def test_a_urlname_claimed_in_an_earlier_batch_of_the_run_is_a_duplicate(self) -> None:
        write_document(self.root, "a.md", urlname=urlname(1), title="甲")
        write_document(self.root, "b.md", urlname=urlname(1), title="乙")
        report = self.run_import()
        self.assertEqual((report.created, report.failed), (1, 1))
        self.assertEqual(
            self.errors(), [f"b.md: duplicate urlname {urlname(1)!r}, already used by a.md"]
        )

    def test_an_unchanged_files_urlname_is_claimed_for_later_batches(self) -> None:
        write_document(self.root, "a.md", urlname=urlname(1), title="甲")
        self.run_import()
        write_document(self.root, "b.md", urlname=urlname(1), title="乙")
        self.log.clear()
        report = self.run_import()
        self.assertEqual((report.unchanged, report.failed, report.created), (1, 1, 0))
        self.assertEqual(
            self.errors(), [f"b.md: duplicate urlname {urlname(1)!r}, already used by a.md"]
        )
        self.assertEqual(Notice.objects.get().title, "甲")

    def test_a_dry_run_claims_across_batches_without_writing(self) -> None:
        write_document(self.root, "a.md", urlname=urlname(1))
        write_document(self.root, "b.md", urlname=urlname(1))
        report = self.run_import(dry_run=True)
        self.assertEqual((report.created, report.failed), (1, 1))
        self.assertFalse(Notice.objects.exists())

    def test_prune_across_batches_deletes_only_what_no_file_accounts_for(self) -> None:
        for n in range(1, 5):
            write_document(self.root, f"{n}.md", urlname=urlname(n))
        self.run_import()
        (self.root / "2.md").unlink()
        (self.root / "3.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
        self.log.clear()
        report = self.run_import(prune=True)
        self.assertEqual((report.pruned, report.failed, report.unchanged), (1, 1, 2))
        self.assertEqual(
            sorted(Notice.objects.values_list("urlname", flat=True)),
            [urlname(1), urlname(3), urlname(4)],
        )
        self.assertIn(("pruned", f"2.md: {urlname(2)}"), self.log)

    def test_a_file_moved_to_a_later_batch_keeps_its_notice(self) -> None:
        write_document(self.root, "a.md", urlname=urlname(1), title="甲")
        self.run_import()
        notice_id = Notice.objects.get().id
        (self.root / "a.md").rename(self.root / "z.md")
        report = self.run_import()
        self.assertEqual((report.updated, report.created, report.failed), (1, 0, 0))
        self.assertEqual(Notice.objects.get().id, notice_id)
        self.assertEqual(Notice.objects.get().source_path, "z.md")


class LookupPlanTests(TestCase):
    def plan(self, sql: str, params: list) -> str:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # A test table is tiny, so the planner would read it whole; the question is
                # whether the index answers without the table (an index-only scan).
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("SET LOCAL enable_bitmapscan = off")
                cursor.execute(f"EXPLAIN {sql}", params)
            else:
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            return " ".join(str(part) for row in cursor.fetchall() for part in row)

    def test_the_lookup_by_path_reads_the_index_alone(self) -> None:
        captured: list[tuple[str, list]] = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, list(params)))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            existing_notices("source_path", ["a.md", "b.md"], set())
        [(sql, params)] = captured
        plan = self.plan(sql, params)
        if connection.vendor == "postgresql":
            self.assertIn("Index Only Scan using notice_import_state", plan)
        else:
            self.assertIn("COVERING INDEX notice_import_state", plan)

    def test_the_lookup_gives_what_deciding_needs(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            write_document(Path(folder), "x/a.md", urlname=urlname(7))
            import_archive([Path(folder)])
            notice = Notice.objects.get()
            [found] = existing_notices("source_path", ["x/a.md"], set())
            self.assertEqual(
                found,
                (
                    notice.id,
                    urlname(7),
                    "x/a.md",
                    notice.content_hash,
                    False,
                    str(Path(folder).resolve()),
                ),
            )
            # A notice edited in the admin since its import is flagged; an untrusted hash is "".
            Notice.objects.filter(id=notice.id).update(
                edited_at=notice.imported_at.replace(year=notice.imported_at.year + 1)
            )
            [edited] = existing_notices("urlname", [urlname(7)], set())
            self.assertTrue(edited.edited)
            Notice.objects.filter(id=notice.id).update(edited_at=None)
            [untrusted] = existing_notices("urlname", [urlname(7)], {notice.id})
            self.assertEqual(untrusted.content_hash, "")
