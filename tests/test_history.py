"""Every version of a notice is kept (imports, admin saves) and any can be restored (issue 10)."""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest import mock

from django.contrib.auth.models import User
from django.db import DatabaseError, connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notices.importing import import_archive
from notices.models import Category, Notice
from notices.search import filter_notices
from notices.tagging import edit_string_for_tags
from tests.helpers import write_document

HistoricalNotice = Notice.history.model


def form_data(response) -> dict[str, Any]:
    """What a browser would send back from an admin change (or restore) page, unchanged."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()
        if name in ("date", "updated"):
            local = timezone.localtime(value) if value else None
            data[f"{name}_0"] = local.strftime("%Y-%m-%d") if local else ""
            data[f"{name}_1"] = local.strftime("%H:%M:%S") if local else ""
        elif name == "tags":
            data[name] = value if isinstance(value, str) else edit_string_for_tags(value or [])
        elif name == "categories":
            data[name] = [str(v) for v in value or []]
        else:
            data[name] = "" if value is None else value
    return data


class HistoryTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.client.force_login(self.editor)

    def tearDown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def import_(self, **options: Any):
        return import_archive([self.root], **options)

    def write(self, name: str = "notice.md", **fields: Any) -> Path:
        return write_document(self.root, name, **fields)

    def change_url(self, notice: Notice) -> str:
        return reverse("admin:notices_notice_change", args=[notice.id])

    def edit_in_admin(self, notice: Notice, **changes: Any) -> None:
        url = self.change_url(notice)
        data = form_data(self.client.get(url))
        data.update(changes)
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.content.decode()[:3000])

    def restore(self, version) -> None:
        url = reverse("admin:notices_notice_simple_history", args=[version.id, version.history_id])
        page = self.client.get(url)
        self.assertEqual(page.status_code, 200)
        response = self.client.post(url, form_data(page))
        self.assertEqual(response.status_code, 302, response.content.decode()[:3000])


class ImportVersionTests(HistoryTestCase):
    def test_each_created_notice_gets_one_version(self) -> None:
        self.write("a.md", urlname="a1", tags=["招生", "研究生"])
        self.write("b.md", urlname="b2", categories=["qinglan.edu.cn", "研究生院"])
        self.import_()
        versions = HistoricalNotice.objects.order_by("history_id")
        self.assertEqual(
            [(v.urlname, v.history_type, v.history_change_reason) for v in versions],
            [("a1", "+", "import a.md"), ("b2", "+", "import b.md")],
        )
        first, second = versions
        self.assertIsNone(first.history_user)
        self.assertEqual(first.tag_names, ["招生", "研究生"])
        self.assertEqual(second.category_paths, [["qinglan.edu.cn", "研究生院"]])
        notice = Notice.objects.get(urlname="a1")
        self.assertEqual(
            (first.id, first.title, first.body), (notice.id, notice.title, notice.body)
        )
        self.assertEqual(first.content_hash, notice.content_hash)

    def test_an_updated_notice_gets_a_version_and_an_unchanged_one_none(self) -> None:
        self.write("a.md", urlname="a1")
        self.write("b.md", urlname="b2")
        self.import_()
        self.write("a.md", urlname="a1", body="改期通知。\n")
        report = self.import_()
        self.assertEqual((report.updated, report.unchanged), (1, 1))
        notice = Notice.objects.get(urlname="a1")
        self.assertEqual(
            [(v.history_type, v.body) for v in notice.history.all()],
            [("~", notice.body), ("+", notice.history.earliest().body)],
        )
        self.assertIn("改期通知", notice.history.latest().body)
        self.assertEqual(Notice.objects.get(urlname="b2").history.count(), 1)

    def test_versions_are_written_in_the_batch_transaction(self) -> None:
        self.write("a.md", urlname="a1")
        with mock.patch("notices.importing.index_notices", side_effect=DatabaseError("boom")):
            report = self.import_()
        self.assertEqual(report.failed, 1)
        self.assertFalse(Notice.objects.exists())
        self.assertFalse(HistoricalNotice.objects.exists())

    def test_versions_are_written_in_bulk(self) -> None:
        for number in range(30):
            self.write(f"n{number:02}.md", urlname=f"u{number}")
        with CaptureQueriesContext(connection) as queries:
            self.import_()
        table = HistoricalNotice._meta.db_table
        inserts = [q for q in queries.captured_queries if f'INSERT INTO "{table}"' in q["sql"]]
        self.assertLessEqual(len(inserts), 1)  # one executemany for the batch
        self.assertEqual(HistoricalNotice.objects.count(), 30)


class AdminVersionTests(HistoryTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.write(urlname="n1", tags=["招生"], title="青岚大学->原来的标题 | qinglan.edu.cn")
        self.import_()
        self.notice = Notice.objects.get(urlname="n1")

    def test_an_admin_save_records_a_version_with_the_user_and_new_tags(self) -> None:
        self.edit_in_admin(self.notice, title="新的标题", tags="招生, 推免")
        version = self.notice.history.latest()
        self.assertEqual(version.history_type, "~")
        self.assertEqual(version.history_user, self.editor)
        self.assertEqual(version.history_change_reason, "admin")
        self.assertEqual(version.title, "新的标题")
        self.assertCountEqual(version.tag_names, ["推免", "招生"])
        self.assertEqual(self.notice.history.count(), 2)

    def test_a_notice_from_before_versions_keeps_its_state_before_the_first_edit(self) -> None:
        HistoricalNotice.objects.all().delete()  # as after the upgrade that brought versions
        self.edit_in_admin(self.notice, title="新的标题")
        before, after = self.notice.history.order_by("history_id")
        self.assertEqual((before.history_type, before.title), ("+", "原来的标题"))
        self.assertEqual(before.tag_names, ["招生"])
        self.assertEqual((after.title, after.history_user), ("新的标题", self.editor))

    def test_the_history_page_lists_the_versions(self) -> None:
        self.edit_in_admin(self.notice, title="新的标题")
        url = reverse("admin:notices_notice_history", args=[self.notice.id])
        response = self.client.get(url)
        self.assertContains(response, "import notice.md")
        self.assertContains(response, "editor")

    def test_restore_brings_back_title_body_date_tags_and_categories(self) -> None:
        other = Category.objects.create(name="其他")
        self.edit_in_admin(
            self.notice,
            title="改过的标题",
            body="改过的正文。\n",
            tags="另一个",
            categories=[str(other.id)],
            date_0="2022-03-01",
            date_1="08:00:00",
        )
        # A later import removes categories no notice uses: a restore makes them again.
        Category.objects.exclude(id=other.id).delete()
        imported = self.notice.history.earliest()
        self.restore(imported)
        notice = Notice.objects.get(id=self.notice.id)
        self.assertEqual(notice.title, "原来的标题")
        self.assertEqual(notice.body, imported.body)
        self.assertEqual(notice.date, imported.date)
        self.assertEqual(list(notice.tags.names()), ["招生"])
        self.assertEqual(
            [c.full_name for c in notice.categories.all()], ["qinglan.edu.cn > 青岚大学"]
        )
        # Derived fields rendered again, search indexed again, and the restore is an edit.
        self.assertIn("寒假安排", notice.body_html)
        self.assertNotIn("改过的正文", notice.body_html)
        self.assertTrue(filter_notices(Notice.objects.all(), "寒假").filter(id=notice.id).exists())
        self.assertFalse(filter_notices(Notice.objects.all(), "改过").exists())
        self.assertTrue(notice.was_edited_since_import)
        # What ties the notice to its file stays as it is.
        self.assertEqual(notice.content_hash, imported.content_hash)
        self.assertEqual(notice.source_path, "notice.md")
        restored = notice.history.latest()
        self.assertEqual(restored.history_user, self.editor)
        self.assertTrue(restored.history_change_reason.startswith("restore version"))
        self.assertEqual(restored.tag_names, ["招生"])


class OverwriteTests(HistoryTestCase):
    def test_overwrite_replaces_an_edit_without_losing_it(self) -> None:
        self.write(urlname="n1", title="青岚大学->原来的标题 | qinglan.edu.cn")
        self.import_()
        notice = Notice.objects.get(urlname="n1")
        self.edit_in_admin(notice, title="编辑改的标题", tags="编辑的标签")
        self.write(urlname="n1", title="青岚大学->文件里的新标题 | qinglan.edu.cn")
        self.assertEqual(self.import_().conflicts, 1)  # held back without --overwrite

        report = self.import_(overwrite=True)
        self.assertEqual(report.updated, 1)
        notice.refresh_from_db()
        self.assertEqual(notice.title, "文件里的新标题")
        edited = notice.history.filter(history_user=self.editor).latest()
        self.assertEqual(edited.title, "编辑改的标题")
        self.assertEqual(edited.tag_names, ["编辑的标签"])
        self.assertEqual(notice.history.latest().history_change_reason, "import notice.md")

        self.restore(edited)
        notice.refresh_from_db()
        self.assertEqual(notice.title, "编辑改的标题")
        self.assertEqual(list(notice.tags.names()), ["编辑的标签"])
        self.assertTrue(notice.was_edited_since_import)
        # The next import sees the restored edit as an edit: it holds the file back.
        self.write(urlname="n1", title="青岚大学->又一个标题 | qinglan.edu.cn")
        self.assertEqual(self.import_().conflicts, 1)
        notice.refresh_from_db()
        self.assertEqual(notice.title, "编辑改的标题")


class DeletedNoticeTests(HistoryTestCase):
    def test_a_pruned_notice_can_be_restored_from_its_last_version(self) -> None:
        self.write(urlname="n1", tags=["招生"])
        self.import_()
        notice = Notice.objects.get(urlname="n1")
        (self.root / "notice.md").unlink()
        self.assertEqual(self.import_(prune=True).pruned, 1)
        self.assertFalse(Notice.objects.exists())
        deleted = HistoricalNotice.objects.filter(id=notice.id).latest()
        self.assertEqual(deleted.history_type, "-")
        self.restore(HistoricalNotice.objects.get(id=notice.id, history_type="+"))
        restored = Notice.objects.get(id=notice.id)
        self.assertEqual((restored.urlname, restored.title), ("n1", notice.title))
        self.assertEqual(list(restored.tags.names()), ["招生"])
        self.assertIn("寒假安排", restored.body_html)


class PinnedVersionTests(TestCase):
    def test_the_pinned_django_simple_history_is_installed(self) -> None:
        # 3.13.0 declares Django 5.2 support (django>=5.2); a new release may change the
        # historical table or the revert view this admin builds on.
        self.assertEqual(version("django-simple-history"), "3.13.0")
