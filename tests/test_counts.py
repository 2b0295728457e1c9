"""The stored list counts follow every write and equal a full recount (issue 13)."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone
from taggit.models import Tag

from notices import counts
from notices.filters import NoticeFilters, facet_counts, facet_values, list_count
from notices.generator import write_archive
from notices.models import Category, FacetCount, Notice
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


class ImportedCountsTests(StoredCountsTestCase):
    def setUp(self) -> None:
        super().setUp()
        write_archive(self.root / "generated", 40)
        self.write("own/a.md", urlname="a" * 32, tags=["招生", "研究生"],
                   categories=["qinglan.edu.cn", "青岚大学", "研究生院"])  # fmt: skip
        self.import_()

    def test_an_import_counts_every_notice(self) -> None:
        self.assertEqual(counts.total(counts.ALL), Notice.objects.count())
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
