from __future__ import annotations

import tempfile
from pathlib import Path

from django.test import TestCase, override_settings

from notices.importing import import_archive, import_workers
from notices.models import Notice, SearchDocument
from notices.search import search_notices
from sample import generate_document
from tests.helpers import write_document


def notice_rows() -> list[tuple]:
    rows = []
    for notice in Notice.objects.prefetch_related("tags", "categories").order_by("urlname"):
        rows.append(
            (
                notice.urlname, notice.title, notice.date, notice.body, notice.body_html,
                notice.summary, notice.source_path, notice.content_hash,
                sorted(tag.name for tag in notice.tags.all()),
                sorted(category.path for category in notice.categories.all()),
            )
        )  # fmt: skip
    return rows


class ReadAheadWorkerTests(TestCase):
    """Worker processes parse and render ahead; the result must be the serial import's."""

    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)
        for index in range(23):
            relative, text = generate_document(index, seed=9)
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (self.root / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
        # A second file claiming an urlname that is already taken.
        _, text = generate_document(3, seed=9)
        (self.root / "zz-duplicate.md").write_text(text, encoding="utf-8")

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def import_with(self, workers: int):
        with override_settings(NOTICES_IMPORT_WORKERS=workers):
            return import_archive([self.root], batch_size=4)

    def test_workers_are_used_only_when_there_is_more_than_one_batch(self) -> None:
        with override_settings(NOTICES_IMPORT_WORKERS=2):
            self.assertEqual(import_workers(1), 0)
            self.assertEqual(import_workers(7), 2)
        with override_settings(NOTICES_IMPORT_WORKERS=0):
            self.assertEqual(import_workers(7), 0)

    def test_workers_give_the_serial_result(self) -> None:
        serial = self.import_with(0)
        serial_rows = notice_rows()
        Notice.objects.all().delete()
        parallel = self.import_with(2)
        self.assertEqual(
            (parallel.created, parallel.failed, parallel.unchanged),
            (serial.created, serial.failed, serial.unchanged),
        )
        self.assertEqual(sorted(parallel.errors), sorted(serial.errors))
        self.assertEqual(parallel.created, 23)
        self.assertEqual(parallel.failed, 2)
        self.assertEqual(notice_rows(), serial_rows)

    def test_workers_index_for_search_as_the_serial_import_does(self) -> None:
        def indexed() -> tuple[list, dict]:
            documents = SearchDocument.objects.order_by("notice__urlname")
            rows = list(documents.values_list("notice__urlname", "title", "body"))
            words = ["通知", "学", "奖学金", rows[5][2][:4], rows[7][1][-3:]]
            hits = {word: sorted(n.urlname for n in search_notices(word)[0:50]) for word in words}
            return rows, hits

        self.import_with(0)
        serial = indexed()
        Notice.objects.all().delete()
        self.import_with(2)
        self.assertEqual(indexed(), serial)
        self.assertEqual(len(serial[0]), 23)

    def test_a_reimport_with_workers_skips_unchanged_files_and_updates_changed_ones(self) -> None:
        self.import_with(2)
        changed = sorted(self.root.rglob("*.md"))[5]
        changed.write_text(changed.read_text(encoding="utf-8") + "\n补充说明。\n", encoding="utf-8")
        report = self.import_with(2)
        self.assertEqual((report.created, report.updated, report.unchanged), (0, 1, 22))
        self.assertIn(
            "补充说明",
            Notice.objects.get(source_path=changed.relative_to(self.root).as_posix()).body,
        )


class WorkerSummaryTests(TestCase):
    def test_a_worker_takes_the_summary_from_the_front_matter_as_the_serial_import_does(
        self,
    ) -> None:
        # A worker rendered through a Notice without `extra`, so `description:` was lost
        # (607 of the corpus's 1,284 summaries differed between the two paths).
        def summaries(workers: int) -> list[str]:
            with (
                tempfile.TemporaryDirectory() as folder,
                override_settings(NOTICES_IMPORT_WORKERS=workers),
            ):
                for n in range(4):
                    write_document(
                        Path(folder), f"{n}.md", urlname=f"summary-{n}",
                        extra_front_matter=f"description: 第{n}篇的摘要\n",
                    )  # fmt: skip
                import_archive([Path(folder)], batch_size=2)
            rows = list(Notice.objects.order_by("urlname").values_list("summary", flat=True))
            Notice.objects.all().delete()
            return rows

        self.assertEqual(summaries(1), [f"第{n}篇的摘要" for n in range(4)])
        self.assertEqual(summaries(0), summaries(1))


class PlannerStatisticsTests(TestCase):
    def test_a_large_import_refreshes_postgresql_statistics(self) -> None:
        from unittest import mock

        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            for index in range(3):
                relative, text = generate_document(index, seed=4)
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                (root / relative).write_text(text, encoding="utf-8")
            with (
                mock.patch("notices.importing.ANALYZE_AFTER_ROWS", 3),
                CaptureQueriesContext(connection) as queries,
            ):
                import_archive([root])
        analyzed = any(query["sql"].startswith("ANALYZE") for query in queries)
        self.assertEqual(analyzed, connection.vendor == "postgresql")
