"""The stored list counts follow every write and equal a full recount (issue 13), kept by
explicit calls whose queries do not grow with the notices written (issue 14)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from taggit.models import Tag

from notices import counts
from notices.filters import NoticeFilters, facet_counts, facet_values, list_count
from notices.history import HistoricalNotice
from notices.importing import import_archive
from notices.models import Category, DataVersion, FacetCount, Notice, TaggedNotice
from notices.search import filter_notices
from sample import write_archive
from tests.helpers import write_document
from tests.test_history import HistoryTestCase


class StoredCountsTestCase(HistoryTestCase):
    def assert_counts_recounted(self) -> None:
        self.assertEqual(counts.stored(), counts.recount())

    def assert_lists_read_as_grouped(self) -> None:
        """Every list one scope holds gets the facets and count grouped queries give."""
        notices = Notice.objects.published()
        local = timezone.localtime(notices.order_by("-date").first().date)
        cases = [NoticeFilters()]
        cases += [NoticeFilters(category=c) for c in Category.objects.all()]
        cases += [NoticeFilters(tags=(t,)) for t in Tag.objects.all()]
        cases += [NoticeFilters(site=s) for s in set(notices.values_list("site", flat=True)) if s]
        cases += [NoticeFilters(year=local.year), NoticeFilters(year=local.year, month=local.month)]
        cases += [NoticeFilters(attachments=True)]  # the 有附件 list (issue 15)
        for filters in cases:
            listed = filters.apply(Notice.objects.published())
            with self.subTest(filters=filters.query()):
                self.assertEqual(list_count(filters), listed.count())
                self.assertEqual(
                    facet_counts(listed, filters, listed=True), facet_counts(listed, filters)
                )
                for facet in ("categories", "tags", "sites", "years", "months"):
                    self.assertEqual(
                        facet_values(listed, filters, facet, listed=True),
                        facet_values(listed, filters, facet),
                    )


# Counted under 有附件 (notices/attachments.py): the generated archive links no files.
WITH_ATTACHMENT = "各学院：\n\n报名表见[附件1：报名表](/files/form.docx)。\n"


@pytest.mark.slow  # an import of 40 generated notices per test
class ImportedCountsTests(StoredCountsTestCase):
    def setUp(self) -> None:
        super().setUp()
        write_archive(self.root / "generated", 40)
        self.write("own/a.md", urlname="a" * 32, tags=["招生", "研究生"],
                   categories=["qinglan.edu.cn", "青岚大学", "研究生院"],
                   body=WITH_ATTACHMENT)  # fmt: skip
        self.write("own/b.md", urlname="b" * 32, tags=["招生"], body=WITH_ATTACHMENT)
        self.import_()

    def test_an_import_counts_every_notice(self) -> None:
        self.assertEqual(counts.total(counts.ALL), Notice.objects.count())
        self.assertEqual(counts.with_attachments(counts.ALL), 2)
        self.assertEqual(counts.total(counts.ATTACHMENTS), 2)
        self.assert_counts_recounted()
        self.assert_lists_read_as_grouped()

    def test_a_changed_file_and_a_pruned_one_change_the_counts(self) -> None:
        self.write("own/a.md", urlname="a" * 32, tags=["放假"], date="2019-06-01 08:00:00",
                   title="北岭工程大学->另一个 | beiling.edu.cn", categories=["其他"])  # fmt: skip
        gone = sorted((self.root / "generated").rglob("*.md"))[:3]
        for path in gone:
            path.unlink()
        report = self.import_(prune=True)
        self.assertEqual((report.updated, report.pruned), (1, 3))
        self.assert_counts_recounted()
        self.assert_lists_read_as_grouped()

    def test_admin_edits_restores_and_deletes_change_the_counts(self) -> None:
        notice = Notice.objects.get(urlname="a" * 32)
        other = Category.objects.create(name="其他")
        self.edit_in_admin(
            notice, site="另一所大学", tags="放假, 新标签", categories=[str(other.id)],
            date_0="2018-02-03", date_1="08:00:00",
        )  # fmt: skip
        self.assert_counts_recounted()
        self.restore(notice.history.earliest())
        self.assert_counts_recounted()
        notice.refresh_from_db()
        notice.tags.add("第三个")
        notice.tags.remove("招生")
        Category.objects.get(name="研究生院").notices.add(*Notice.objects.all()[:5])
        self.assert_counts_recounted()
        notice.categories.clear()
        notice.urlname = ""  # no page: no longer in any list
        notice.save()
        self.assert_counts_recounted()
        # A category moved under another parent takes its notices' scopes with it.
        moved = Category.objects.filter(parent__isnull=False).first()
        moved.parent = other
        moved.save()
        self.assert_counts_recounted()
        busiest = Tag.objects.annotate(n=Count("notices_taggednotice_items")).order_by("-n")[0]
        busiest.delete()
        self.assert_counts_recounted()
        # A root with its sub-categories: each notice below counted once.
        Category.objects.filter(parent=None).exclude(id=other.id).first().delete()
        self.assert_counts_recounted()
        Notice.objects.first().delete()
        Notice.objects.filter(id__in=Notice.objects.values("id")[:4]).delete()
        self.assert_counts_recounted()
        self.assert_lists_read_as_grouped()

    def test_attachments_gained_and_lost_change_the_counts(self) -> None:
        """Every write that changes whether a notice has attachments (issue 15)."""
        a = Notice.objects.get(urlname="a" * 32)
        b = Notice.objects.get(urlname="b" * 32)
        plain = Notice.objects.exclude(id__in=[a.id, b.id]).order_by("id").first()
        # An import of a changed file: b loses its link.
        self.write("own/b.md", urlname="b" * 32, tags=["招生"], body="没有附件了。\n")
        self.import_()
        self.assertEqual(counts.with_attachments(counts.ALL), 1)
        self.assert_counts_recounted()
        # An admin edit adds one to a generated notice, another takes a's away.
        self.edit_in_admin(plain, body=plain.body + "\n[名额表.xlsx](https://x.cn/dl?id=9)\n")
        self.edit_in_admin(a, body="正文里没有链接。\n")
        self.assertEqual(
            set(Notice.objects.filter(has_attachments=True).values_list("id", flat=True)),
            {plain.id},
        )
        self.assert_counts_recounted()
        # A restore of a's first version brings its attachment back.
        self.restore(a.history.earliest())
        self.assertTrue(Notice.objects.get(id=a.id).has_attachments)
        self.assert_counts_recounted()
        # render_notices: stored HTML from an older renderer, the flag out of date.
        Notice.objects.filter(id=plain.id).update(attachments=[], has_attachments=False)
        counts.rebuild()
        call_command("render_notices", stdout=io.StringIO())
        self.assertTrue(Notice.objects.get(id=plain.id).has_attachments)
        self.assert_counts_recounted()
        # A deleted notice with attachments, and a bulk delete.
        Notice.objects.get(id=a.id).delete()
        Notice.objects.filter(id=plain.id).delete()
        self.assertEqual(counts.with_attachments(counts.ALL), 0)
        self.assert_counts_recounted()
        self.assert_lists_read_as_grouped()

    def test_recount_notices_recounts_from_scratch(self) -> None:
        FacetCount.objects.filter(scope=counts.ALL).update(count=0)
        out = io.StringIO()
        call_command("recount_notices", stdout=out)
        self.assertIn("count rows", out.getvalue())
        self.assert_counts_recounted()
        self.assertEqual(counts.total(counts.ALL), Notice.objects.count())


class ListPageTests(StoredCountsTestCase):
    def test_list_pages_read_the_stored_counts(self) -> None:
        write_document(self.root, "a.md", urlname="b" * 32, tags=["招生"])
        self.import_()
        # The count on the page is the stored one: change it and the page shows it.
        FacetCount.objects.filter(scope=counts.ALL, facet="n").update(count=41)
        response = self.client.get("/")
        self.assertEqual(response.context["page"].paginator.count, 41)


def data_version_writes(queries: list[dict]) -> int:
    table = connection.ops.quote_name(DataVersion._meta.db_table)
    return sum(1 for query in queries if query["sql"].startswith(f"UPDATE {table}"))


@pytest.mark.slow  # an import of 110 generated notices
class ExplicitWritesTests(StoredCountsTestCase):
    """Deletes and admin saves keep counts, index, versions and caches right with explicit
    calls, not a receiver per row (issue 14)."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        with tempfile.TemporaryDirectory() as root:
            write_archive(Path(root), 110)
            import_archive([Path(root)])

    def delete(self, how: int) -> list[dict]:
        ids = list(Notice.objects.order_by("id").values_list("id", flat=True)[:how])
        with CaptureQueriesContext(connection) as queries:
            self.assertEqual(counts.delete_notices(ids), how)
        self.assertFalse(Notice.objects.filter(id__in=ids).exists())
        self.assertFalse(TaggedNotice.objects.filter(content_object_id__in=ids).exists())
        deleted = HistoricalNotice.objects.filter(id__in=ids, history_type="-")
        self.assertEqual(deleted.count(), how)  # what a restore of a pruned notice starts from
        self.assert_counts_recounted()
        return queries.captured_queries

    def test_a_bulk_delete_runs_the_same_queries_for_10_notices_as_for_100(self) -> None:
        searched = "通知"
        found = set(filter_notices(Notice.objects.all(), searched).values_list("id", flat=True))
        ten = self.delete(10)
        self.assertTrue(found - set(Notice.objects.values_list("id", flat=True)))
        hundred = self.delete(100)
        print(f"\ndelete_notices: {len(ten)} queries for 10 notices, {len(hundred)} for 100")
        self.assertEqual(len(hundred), len(ten))
        self.assertEqual(data_version_writes(hundred), 1)
        left = set(Notice.objects.values_list("id", flat=True))
        # No index row is left behind (SQLite's FTS5 rows are deleted with their tokens).
        self.assertEqual(
            set(filter_notices(Notice.objects.all(), searched).values_list("id", flat=True)),
            found & left,
        )

    def test_a_queryset_delete_and_an_instance_delete_take_the_same_path(self) -> None:
        gone = list(Notice.objects.order_by("id").values_list("id", flat=True)[:20])
        with CaptureQueriesContext(connection) as queries:
            deleted, _ = Notice.objects.filter(id__in=gone).delete()
        self.assertEqual(deleted, 20)
        self.assertEqual(data_version_writes(queries.captured_queries), 1)
        notice = Notice.objects.order_by("id").first()
        notice.delete()
        self.assertIsNone(notice.pk)
        self.assertEqual(HistoricalNotice.objects.filter(history_type="-").count(), 21)
        self.assert_counts_recounted()

    def test_an_admin_save_bumps_the_data_version_once(self) -> None:
        notice = Notice.objects.order_by("id").first()
        other = Category.objects.create(name="其他")
        with CaptureQueriesContext(connection) as queries:
            self.edit_in_admin(
                notice, title="改过的标题", site="另一所大学", tags="放假, 新标签",
                categories=[str(other.id)],
            )  # fmt: skip
        # The notice's row, its tags, categories and version: one transaction, one bump.
        self.assertEqual(data_version_writes(queries.captured_queries), 1)
        self.assert_counts_recounted()

    def test_a_deleted_category_or_tag_keeps_the_counts(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            Category.objects.filter(parent=None).delete()
        self.assertEqual(data_version_writes(queries.captured_queries), 1)
        self.assert_counts_recounted()
        Tag.objects.filter(id__in=Tag.objects.values("id")[:5]).delete()
        self.assert_counts_recounted()
