"""Whether a notice differs from its archive file: its state, the filter, the diff (issue 10)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import reverse

from notices.documents import content_hash
from notices.importing import import_archive
from notices.models import Notice
from notices.sync import (
    MAX_DIFF_LINES,
    SyncState,
    file_diff_html,
    file_path,
    sync_state,
    with_recorded_state,
)
from tests.helpers import make_notice, write_document


class SyncTestCase(TestCase):
    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root, True)

    def import_one(self, name: str = "notice.md", **fields: Any) -> Notice:
        fields.setdefault("urlname", Path(name).stem)
        write_document(self.root, name, **fields)
        import_archive([self.root])
        return Notice.objects.get(urlname=fields["urlname"])

    def edit(self, notice: Notice, **changes: Any) -> Notice:
        for name, value in changes.items():
            setattr(notice, name, value)
        notice.render()
        notice.mark_edited()
        notice.save()
        return notice


class SyncStateTests(SyncTestCase):
    def test_a_freshly_imported_notice_is_in_sync(self) -> None:
        notice = self.import_one()
        self.assertEqual(file_path(notice), self.root.resolve() / "notice.md")
        self.assertEqual(sync_state(notice), SyncState.IN_SYNC)

    def test_an_edit_here(self) -> None:
        notice = self.edit(self.import_one(), title="改过的标题")
        self.assertEqual(sync_state(notice), SyncState.EDITED)

    def test_a_file_changed_since_its_import(self) -> None:
        notice = self.import_one()
        write_document(self.root, "notice.md", urlname="notice", body="文件改了。\n")
        self.assertEqual(sync_state(notice), SyncState.FILE_CHANGED)

    def test_a_file_that_is_gone_counts_as_changed(self) -> None:
        notice = self.import_one()
        (self.root / "notice.md").unlink()
        self.assertEqual(sync_state(notice), SyncState.FILE_CHANGED)

    def test_both_is_a_conflict(self) -> None:
        notice = self.edit(self.import_one(), title="改过的标题")
        write_document(self.root, "notice.md", urlname="notice", body="文件改了。\n")
        self.assertEqual(sync_state(notice), SyncState.CONFLICT)

    def test_a_notice_without_a_file_exists_only_here(self) -> None:
        self.assertEqual(sync_state(make_notice()), SyncState.EDITED)

    def test_a_source_path_leaving_its_folder_names_no_file(self) -> None:
        notice = make_notice(source_path="../outside.md", archive_root=str(self.root))
        self.assertIsNone(file_path(notice))


class RecordedStateTests(SyncTestCase):
    """What the change list filters by: the database's view, no files read."""

    def states(self) -> dict[str, list[str]]:
        return {
            state: sorted(
                with_recorded_state(Notice.objects.all(), state).values_list("urlname", flat=True)
            )
            for state in (
                SyncState.IN_SYNC,
                SyncState.EDITED,
                SyncState.FILE_CHANGED,
                SyncState.CONFLICT,
            )
        }

    def test_an_import_records_the_file_it_held_back(self) -> None:
        self.import_one("same.md")
        edited = self.edit(self.import_one("edited.md"), title="改过")
        self.edit(self.import_one("conflict.md"), title="也改过")
        make_notice(urlname="no-file")
        write_document(self.root, "conflict.md", urlname="conflict", body="文件新版本。\n")
        report = import_archive([self.root])
        self.assertEqual(report.conflicts, 1)
        held = Notice.objects.get(urlname="conflict")
        new_bytes = (self.root / "conflict.md").read_bytes()
        self.assertEqual(held.held_back_hash, content_hash(new_bytes))
        self.assertIsNone(Notice.objects.get(urlname="edited").held_back_hash)
        self.assertEqual(
            self.states(),
            {
                SyncState.IN_SYNC: ["same"],
                SyncState.EDITED: ["edited", "no-file"],
                SyncState.FILE_CHANGED: [],
                SyncState.CONFLICT: ["conflict"],
            },
        )
        self.assertEqual(sync_state(edited), SyncState.EDITED)
        # --overwrite takes the file: the conflict is over.
        import_archive([self.root], overwrite=True)
        self.assertIsNone(Notice.objects.get(urlname="conflict").held_back_hash)
        self.assertEqual(self.states()[SyncState.CONFLICT], [])

    def test_a_dry_run_records_nothing(self) -> None:
        self.edit(self.import_one(), title="改过")
        write_document(self.root, "notice.md", urlname="notice", body="文件新版本。\n")
        import_archive([self.root], dry_run=True)
        self.assertIsNone(Notice.objects.get().held_back_hash)


class AdminTests(SyncTestCase):
    def setUp(self) -> None:
        super().setUp()
        editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")
        self.client.force_login(editor)

    def test_the_change_list_filters_and_shows_the_state(self) -> None:
        self.import_one("same.md")
        self.edit(self.import_one("edited.md"), title="改过")
        url = reverse("admin:notices_notice_changelist")
        for state, expected in [
            (SyncState.EDITED, ["edited"]),
            (SyncState.IN_SYNC, ["same"]),
            (SyncState.CONFLICT, []),
        ]:
            with self.subTest(state=state):
                response = self.client.get(url, {"sync": state})
                self.assertEqual(response.status_code, 200)
                shown = [notice.urlname for notice in response.context["cl"].result_list]
                self.assertEqual(shown, expected)
        response = self.client.get(url)
        admin = response.context["cl"].model_admin
        self.assertIn("sync_state", admin.list_display)
        labels = {admin.sync_state(notice) for notice in Notice.objects.all()}
        self.assertEqual(len(labels), 2)  # "edited here" and "in sync", in the editor's language

    def test_the_change_page_shows_the_diff(self) -> None:
        notice = self.edit(self.import_one(), title="改过的标题")
        response = self.client.get(reverse("admin:notices_notice_change", args=[notice.id]))
        self.assertContains(response, '<pre class="file-diff">')
        self.assertContains(
            response, '<span class="diff-del">-title: 青岚大学-&gt;关于寒假安排的通知'
        )
        self.assertContains(response, '<span class="diff-add">+title: 青岚大学-&gt;改过的标题')


class FileDiffTests(SyncTestCase):
    def test_same_as_the_file(self) -> None:
        html = file_diff_html(self.import_one())
        self.assertNotIn("<pre", html)
        self.assertTrue(html.startswith("<p>"))

    def test_no_file(self) -> None:
        self.assertNotIn("<pre", file_diff_html(make_notice()))
        self.assertNotIn("<pre", file_diff_html(None))
        notice = self.import_one()
        (self.root / "notice.md").unlink()
        self.assertIn("notice.md", file_diff_html(notice))

    def test_the_diff_is_escaped_and_marks_lines(self) -> None:
        notice = self.edit(self.import_one(), body="<script>alert(1)</script> & 新正文\n")
        html = file_diff_html(notice)
        self.assertNotIn("<script>", html)
        self.assertIn(
            '<span class="diff-add">+&lt;script&gt;alert(1)&lt;/script&gt; &amp; 新正文</span>',
            html,
        )
        self.assertIn('<span class="diff-del">-现将寒假安排通知如下。</span>', html)
        self.assertIn('<span class="diff-hunk">@@', html)
        self.assertIn('<span class="diff-file">--- notice.md', html)

    def test_a_file_changed_on_disk_shows_as_the_file_side(self) -> None:
        notice = self.import_one()
        write_document(self.root, "notice.md", urlname="notice", body="磁盘上的新正文。\n")
        html = file_diff_html(notice)
        self.assertIn('<span class="diff-del">-磁盘上的新正文。</span>', html)
        self.assertIn('<span class="diff-add">+现将寒假安排通知如下。</span>', html)

    def test_line_endings_alone_are_visible(self) -> None:
        notice = self.import_one()
        path = self.root / "notice.md"
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
        self.assertIn("\u240d", file_diff_html(notice))

    def test_a_long_diff_is_capped(self) -> None:
        body = "".join(f"第{number}行\n" for number in range(MAX_DIFF_LINES * 2))
        notice = self.edit(self.import_one(), body=body)
        html = file_diff_html(notice)
        self.assertEqual(html.count("<span"), MAX_DIFF_LINES + 1)
        self.assertIn('<span class="diff-more">', html)
