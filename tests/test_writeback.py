"""Edits written back into the archive files (issue 10, item 4)."""

from __future__ import annotations

import os
import stat
import tempfile
from io import StringIO
from pathlib import Path
from unittest import mock

from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from notices.documents import content_hash
from notices.importing import import_archive
from notices.models import Notice
from notices.tagging import edit_string_for_tags
from notices.writeback import (
    BOTH_CHANGED,
    CONFLICT,
    CREATED,
    EDITED_HERE,
    ERROR,
    FILE_CHANGED,
    FILE_MISSING,
    IN_SYNC,
    NO_FILE,
    REFUSED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    file_state,
    write_back,
)
from tests.helpers import document_text, make_notice, write_document, write_files

OTHER_TITLE = "青岚大学->关于2021年寒假放假安排的补充通知 | qinglan.edu.cn"


def changed_line_pairs(before: str, after: str) -> list[tuple[str, str]]:
    """(old, new) for each line that differs; the two texts have as many lines."""
    return [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]


class ArchiveTestCase(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name).resolve() / "archive"
        self.root.mkdir()
        self.outside = Path(self._tmp.name).resolve() / "outside"
        self.outside.mkdir()
        settings_override = override_settings(NOTICES_ARCHIVE_DIR=self.root)
        settings_override.enable()
        self.addCleanup(settings_override.disable)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def imported(self, name: str = "qinglan.edu.cn/2021/notice.md", **fields) -> Notice:
        path = write_document(self.root, name, **fields)
        report = import_archive([self.root])
        self.assertEqual(report.failed, 0, report.errors)
        return Notice.objects.get(source_path=path.relative_to(self.root).as_posix())

    def edit(self, notice: Notice, **fields) -> Notice:
        for name, value in fields.items():
            setattr(notice, name, value)
        notice.render()
        notice.mark_edited()
        notice.save()
        return Notice.objects.get(pk=notice.pk)

    def reimport(self):
        return import_archive([self.root])

    def leftovers(self, folder: Path) -> list[str]:
        return sorted(name for name in os.listdir(folder) if name.startswith("."))


class WriteBackTests(ArchiveTestCase):
    def test_an_edited_title_changes_one_line_of_the_file(self) -> None:
        notice = self.imported(urlname="winter-2021", extra_front_matter="# 教务处发布\nviews: 12")
        path = self.root / notice.source_path
        before = path.read_text(encoding="utf-8")
        notice = self.edit(notice, title="关于2021年寒假放假安排的补充通知")

        report = write_back([notice])

        self.assertEqual([(f.kind, f.path) for f in report.files], [(UPDATED, notice.source_path)])
        after = path.read_text(encoding="utf-8")
        changed = changed_line_pairs(before, after)
        self.assertEqual(changed, [(before.splitlines()[1], f"title: {OTHER_TITLE}")])
        notice.refresh_from_db()
        self.assertFalse(notice.was_edited_since_import)
        self.assertEqual(notice.content_hash, content_hash(path.read_bytes()))
        self.assertEqual(notice.front_matter + notice.body, after)
        self.assertEqual(notice.raw_title, OTHER_TITLE)
        self.assertEqual(file_state(notice), (IN_SYNC, ""))
        # A version says the file was written (notices/history.py keeps every version).
        self.assertEqual(
            notice.history.first().history_change_reason, "written back to the archive"
        )

    def test_the_next_import_says_unchanged(self) -> None:
        notice = self.imported()
        notice = self.edit(
            notice, title="补充通知", body=notice.body + "\n补充：返校时间另行通知。\n"
        )
        notice.tags.add("寒假")
        write_back([Notice.objects.get(pk=notice.pk)])

        report = self.reimport()

        self.assertEqual((report.unchanged, report.updated, report.conflicts), (1, 0, 0))
        # And what the file now says is what the notice says, read afresh.
        Notice.objects.all().delete()
        import_archive([self.root])
        fresh = Notice.objects.get()
        self.assertEqual(fresh.title, "补充通知")
        self.assertIn("补充：返校时间另行通知。", fresh.body)
        self.assertEqual(sorted(fresh.tags.names()), ["寒假", "青岚大学"])

    def test_a_crlf_gb18030_file_keeps_its_encoding_and_line_endings(self) -> None:
        [path] = write_files(
            self.root, {"gb.md": document_text().replace("\n", "\r\n").encode("gb18030")}
        )
        import_archive([self.root])
        notice = self.edit(Notice.objects.get(), title="关于寒假安排的更正")

        write_back([notice])

        data = path.read_bytes()
        text = data.decode("gb18030")
        self.assertEqual(text.count("\r\n"), text.count("\n"))
        self.assertIn("青岚大学->关于寒假安排的更正 | qinglan.edu.cn\r\n", text)
        self.assertEqual(self.reimport().unchanged, 1)

    def test_a_file_changed_since_import_is_a_conflict_and_left_alone(self) -> None:
        notice = self.imported()
        path = write_document(self.root, notice.source_path, body="爬虫更新了正文。\n")
        theirs = path.read_bytes()
        notice = self.edit(notice, title="编辑改的标题")
        self.assertEqual(file_state(notice)[0], BOTH_CHANGED)

        report = write_back([notice])

        self.assertEqual([f.kind for f in report.files], [CONFLICT])
        self.assertIn("changed since the import", report.files[0].reason)
        self.assertEqual(path.read_bytes(), theirs)
        notice.refresh_from_db()
        self.assertTrue(notice.was_edited_since_import)

    def test_a_file_changed_while_it_is_written_is_not_overwritten(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        path = self.root / notice.source_path
        real_mkstemp = tempfile.mkstemp

        def crawler_writes_meanwhile(*args, **kwargs):
            write_document(self.root, notice.source_path, body="同时写入。\n")
            return real_mkstemp(*args, **kwargs)

        with mock.patch("notices.writeback.tempfile.mkstemp", crawler_writes_meanwhile):
            report = write_back([notice])

        self.assertEqual([f.kind for f in report.files], [CONFLICT])
        self.assertIn("同时写入", path.read_text(encoding="utf-8"))
        self.assertEqual(self.leftovers(path.parent), [])

    def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        path = self.root / notice.source_path
        before = path.read_bytes()
        written_before_the_rename: list[bytes] = []

        def disk_fails(source, target):
            written_before_the_rename.append(Path(source).read_bytes())
            raise OSError(28, "No space left on device")

        with mock.patch("notices.writeback.os.replace", disk_fails):
            report = write_back([notice])

        self.assertIn("编辑改的标题", written_before_the_rename[0].decode())  # the temp was full
        self.assertEqual([f.kind for f in report.files], [ERROR])
        self.assertIn("No space left on device", report.files[0].reason)
        self.assertEqual(path.read_bytes(), before)
        self.assertEqual(self.leftovers(path.parent), [])
        notice.refresh_from_db()
        self.assertTrue(notice.was_edited_since_import)  # still to be written back

    def test_a_crash_mid_write_leaves_the_old_file_and_no_temporary_file(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        path = self.root / notice.source_path
        before = path.read_bytes()

        with (
            mock.patch("notices.writeback.os.fsync", side_effect=KeyboardInterrupt),
            self.assertRaises(KeyboardInterrupt),
        ):
            write_back([notice])

        self.assertEqual(path.read_bytes(), before)
        self.assertEqual(self.leftovers(path.parent), [])

    def test_the_file_keeps_its_permissions(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        path = self.root / notice.source_path
        path.chmod(0o644)
        write_back([notice])
        self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o644)

    def test_an_unedited_notice_is_skipped(self) -> None:
        notice = self.imported()
        before = (self.root / notice.source_path).stat().st_mtime_ns
        report = write_back([notice])
        self.assertEqual([f.kind for f in report.files], [SKIPPED])
        self.assertEqual((self.root / notice.source_path).stat().st_mtime_ns, before)

    def test_a_dry_run_writes_nothing(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        before = (self.root / notice.source_path).read_bytes()
        report = write_back([notice], dry_run=True)
        self.assertEqual([f.kind for f in report.files], [UPDATED])
        self.assertTrue(report.summary().startswith("Dry run: would have created 0, updated 1"))
        self.assertEqual((self.root / notice.source_path).read_bytes(), before)
        notice.refresh_from_db()
        self.assertTrue(notice.was_edited_since_import)

    def test_a_file_that_already_holds_the_edit_is_only_marked_in_sync(self) -> None:
        notice = self.edit(self.imported(), title="编辑改的标题")
        path = self.root / notice.source_path
        kept = ("content_hash", "front_matter", "raw_title", "imported_at")
        before = Notice.objects.filter(pk=notice.pk).values(*kept).get()
        write_back([notice])
        # As if the database update after the rename had been lost.
        Notice.objects.filter(pk=notice.pk).update(**before)
        report = write_back([Notice.objects.get(pk=notice.pk)])
        self.assertEqual([f.kind for f in report.files], [UNCHANGED])
        self.assertEqual(
            Notice.objects.get(pk=notice.pk).content_hash, content_hash(path.read_bytes())
        )

    def test_a_notice_imported_before_front_matter_was_kept_is_edited_in_place(self) -> None:
        notice = self.imported(extra_front_matter="# 保留这行注释")
        Notice.objects.filter(pk=notice.pk).update(front_matter="", source_format={})
        notice = self.edit(Notice.objects.get(pk=notice.pk), title="编辑改的标题")
        write_back([notice])
        text = (self.root / notice.source_path).read_text(encoding="utf-8")
        self.assertIn("# 保留这行注释", text)
        self.assertEqual(self.reimport().unchanged, 1)

    def test_an_edit_saved_during_the_write_stays_an_edit(self) -> None:
        notice = self.edit(self.imported(), title="第一次修改")
        Notice.objects.filter(pk=notice.pk).update(edited_at=timezone.now())  # a second save
        write_back([notice])
        notice.refresh_from_db()
        self.assertTrue(notice.was_edited_since_import)
        self.assertEqual(file_state(notice)[0], EDITED_HERE)


class NewFileTests(ArchiveTestCase):
    def test_a_notice_made_in_the_admin_gets_a_file_named_as_the_archive_names_them(self) -> None:
        notice = make_notice(urlname="qinglan-2021-winter", source_path="")
        notice.tags.add("寒假")

        report = write_back([notice])

        path = "qinglan.edu.cn/2021/qinglan-2021-winter.md"
        self.assertEqual([(f.kind, f.path) for f in report.files], [(CREATED, path)])
        text = (self.root / path).read_text(encoding="utf-8")
        self.assertTrue(
            text.startswith("---\ntitle: 青岚大学->关于寒假安排的通知 | qinglan.edu.cn\n")
        )
        self.assertIn("urlname: qinglan-2021-winter\n", text)
        notice.refresh_from_db()
        self.assertEqual((notice.source_path, notice.archive_root), (path, str(self.root)))
        self.assertEqual(file_state(notice), (IN_SYNC, ""))

        report = self.reimport()
        self.assertEqual((report.created, report.unchanged, report.failed), (0, 1, 0))
        self.assertEqual(Notice.objects.count(), 1)

    def test_an_existing_file_is_never_overwritten(self) -> None:
        existing = write_document(self.root, "qinglan.edu.cn/2021/taken.md", urlname="taken")
        before = existing.read_bytes()
        notice = make_notice(urlname="taken", source_path="")

        report = write_back([notice])

        self.assertEqual([f.kind for f in report.files], [CONFLICT])
        self.assertEqual(existing.read_bytes(), before)
        self.assertEqual(Notice.objects.get(pk=notice.pk).source_path, "")

    def test_a_file_appearing_between_check_and_link_wins(self) -> None:
        notice = make_notice(urlname="raced", source_path="")
        target = self.root / "qinglan.edu.cn/2021/raced.md"
        real_link = os.link

        def someone_else_first(source, destination):
            Path(destination).write_text("别人的文件", encoding="utf-8")
            return real_link(source, destination)

        with mock.patch("notices.writeback.os.link", someone_else_first):
            report = write_back([notice])

        self.assertEqual([f.kind for f in report.files], [CONFLICT])
        self.assertEqual(target.read_text(encoding="utf-8"), "别人的文件")
        self.assertEqual(self.leftovers(target.parent), [])

    def test_a_site_without_a_domain_names_the_folder(self) -> None:
        notice = make_notice(urlname="no-domain", domain="", site="青岚/大学", source_path="")
        report = write_back([notice])
        self.assertEqual(report.files[0].path, "青岚-大学/2021/no-domain.md")


class PathSafetyTests(ArchiveTestCase):
    def notice_at(self, source_path: str) -> Notice:
        return make_notice(
            source_path=source_path,
            archive_root=str(self.root),
            content_hash="0" * 64,
            imported_at=timezone.now() - timezone.timedelta(days=1),
            edited_at=timezone.now(),
        )

    def test_paths_that_leave_the_archive_are_refused(self) -> None:
        (self.outside / "victim.md").write_text("不要改我", encoding="utf-8")
        for source_path in ["../outside/victim.md", str(self.outside / "victim.md"), "a\\..\\b.md"]:
            with self.subTest(source_path):
                report = write_back([self.notice_at(source_path)])
                self.assertEqual([f.kind for f in report.files], [REFUSED])
                self.assertIn("leaves the archive folder", report.files[0].reason)
        self.assertEqual((self.outside / "victim.md").read_text(encoding="utf-8"), "不要改我")

    def test_symlinks_out_of_the_archive_are_refused(self) -> None:
        victim = write_document(self.outside, "victim.md")
        (self.root / "link.md").symlink_to(victim)
        (self.root / "folder").symlink_to(self.outside, target_is_directory=True)
        for source_path in ["link.md", "folder/victim.md"]:
            with self.subTest(source_path):
                notice = self.notice_at(source_path)
                Notice.objects.filter(pk=notice.pk).update(
                    content_hash=content_hash(victim.read_bytes())
                )
                report = write_back([Notice.objects.get(pk=notice.pk)])
                self.assertEqual([f.kind for f in report.files], [REFUSED])
        self.assertEqual(victim.read_text(encoding="utf-8"), document_text())
        self.assertEqual(self.leftovers(self.outside), [])


class CommandTests(ArchiveTestCase):
    def call(self, *args: str) -> tuple[str, str]:
        stdout, stderr = StringIO(), StringIO()
        call_command("write_back", *args, stdout=stdout, stderr=stderr)
        return stdout.getvalue(), stderr.getvalue()

    def test_it_writes_every_edited_notice_one_line_each(self) -> None:
        edited = self.edit(self.imported("a.md", urlname="a"), title="改过的标题")
        self.imported("b.md", urlname="b")  # unedited: not listed
        make_notice(urlname="new-one", source_path="")

        stdout, stderr = self.call("--dry-run")
        self.assertEqual(
            stdout.splitlines(),
            [
                "would be created: qinglan.edu.cn/2021/new-one.md (new-one)",
                "would be updated: a.md (a)",
                "Dry run: would have created 1, updated 1, unchanged 0, conflict 0, refused 0, "
                "skipped 0, "
                "error 0",
            ],
        )
        self.assertFalse((self.root / "qinglan.edu.cn/2021/new-one.md").exists())

        stdout, stderr = self.call()
        self.assertEqual(stderr, "")
        self.assertEqual(
            stdout.splitlines()[-1],
            "created 1, updated 1, unchanged 0, conflict 0, refused 0, skipped 0, error 0",
        )
        self.assertIn("改过的标题", (self.root / edited.source_path).read_text(encoding="utf-8"))
        self.assertEqual(self.reimport().unchanged, 3)
        self.assertEqual(
            self.call()[0].strip(),
            "created 0, updated 0, unchanged 0, conflict 0, refused 0, skipped 0, error 0",
        )

    def test_urlnames_choose_the_notices_and_conflicts_exit_1(self) -> None:
        notice = self.edit(self.imported("a.md", urlname="a"), title="改过的标题")
        write_document(self.root, "a.md", urlname="a", body="新正文\n")
        stdout, stderr = StringIO(), StringIO()
        with self.assertRaises(CommandError) as caught:
            call_command("write_back", "a", stdout=stdout, stderr=stderr)
        self.assertEqual(caught.exception.returncode, 1)
        self.assertTrue(stderr.getvalue().startswith("conflict: a.md (a): its file changed"))
        self.assertTrue(Notice.objects.get(pk=notice.pk).was_edited_since_import)
        with self.assertRaises(CommandError) as caught:
            self.call("nope")
        self.assertEqual(caught.exception.returncode, 2)


class StatusTests(ArchiveTestCase):
    def test_each_way_of_differing(self) -> None:
        in_sync = self.imported("in-sync.md", urlname="in-sync")
        edited = self.edit(self.imported("edited.md", urlname="edited"), title="改")
        changed = self.imported("changed.md", urlname="changed")
        write_document(self.root, "changed.md", urlname="changed", body="新\n")
        gone = self.imported("gone.md", urlname="gone")
        (self.root / "gone.md").unlink()
        made_here = make_notice(urlname="made-here", source_path="")
        states = {n.urlname: file_state(n)[0] for n in (in_sync, edited, changed, gone, made_here)}
        self.assertEqual(
            states,
            {
                "in-sync": IN_SYNC,
                "edited": EDITED_HERE,
                "changed": FILE_CHANGED,
                "gone": FILE_MISSING,
                "made-here": NO_FILE,
            },
        )


class AdminActionTests(ArchiveTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.notice = self.edit(self.imported(urlname="winter"), title="改过的标题")
        self.url = reverse("admin:notices_notice_changelist")

    def post_action(self) -> object:
        return self.client.post(
            self.url,
            {"action": "write_back_action", "_selected_action": [self.notice.pk]},
            follow=True,
        )

    def test_the_action_writes_and_says_how_many(self) -> None:
        self.client.force_login(User.objects.create_superuser("editor", "e@example.org", "pw"))
        response = self.post_action()
        self.assertEqual(response.status_code, 200)
        shown = [str(message) for message in response.context["messages"]]
        self.assertEqual(len(shown), 1, shown)
        self.assertIn("1", shown[0])
        text = (self.root / self.notice.source_path).read_text(encoding="utf-8")
        self.assertIn("改过的标题", text)
        self.assertFalse(Notice.objects.get(pk=self.notice.pk).was_edited_since_import)

    def test_the_action_is_in_chinese(self) -> None:
        self.client.force_login(User.objects.create_superuser("editor", "e@example.org", "pw"))
        response = self.client.get(self.url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(response, "写回归档文件")

    def test_a_conflict_is_a_warning_naming_the_file(self) -> None:
        self.client.force_login(User.objects.create_superuser("editor", "e@example.org", "pw"))
        path = write_document(self.root, self.notice.source_path, urlname="winter", body="新正文\n")
        response = self.post_action()
        shown = [(m.level_tag, str(m)) for m in response.context["messages"]]
        self.assertEqual([level for level, _ in shown], ["success", "warning"])
        self.assertIn(self.notice.source_path, shown[1][1])
        self.assertIn("新正文", path.read_text(encoding="utf-8"))

    def test_staff_without_change_permission_cannot_write_back(self) -> None:
        viewer = User.objects.create_user("viewer", "v@example.org", "pw", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_notice"))
        self.client.force_login(viewer)
        response = self.client.get(self.url)
        self.assertNotContains(response, "write_back_action")
        before = (self.root / self.notice.source_path).read_bytes()
        self.post_action()
        self.assertEqual((self.root / self.notice.source_path).read_bytes(), before)


class EditorPathTests(ArchiveTestCase):
    """The editor's whole path: import, edit in the admin, write back, import → unchanged."""

    def test_an_admin_edit_written_back_changes_one_line_and_reimports_unchanged(self) -> None:
        notice = self.imported(urlname="winter", tags=["青岚大学", "寒假"])
        path = self.root / notice.source_path
        before = path.read_text(encoding="utf-8")
        self.client.force_login(User.objects.create_superuser("editor", "e@example.org", "pw"))
        url = reverse("admin:notices_notice_change", args=[notice.pk])
        form = self.client.get(url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(
            title="关于2021年寒假放假安排的补充通知",
            date_0="2021-01-15",
            date_1="09:30:00",
            categories=[category.id for category in notice.categories.all()],
            tags=edit_string_for_tags(notice.tags.all()),
        )
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.content.decode()[:2000])
        self.assertTrue(Notice.objects.get(pk=notice.pk).was_edited_since_import)

        changelist = reverse("admin:notices_notice_changelist")
        self.client.post(
            changelist, {"action": "write_back_action", "_selected_action": [notice.pk]}
        )

        after = path.read_text(encoding="utf-8")
        changed = changed_line_pairs(before, after)
        self.assertEqual(changed, [(before.splitlines()[1], f"title: {OTHER_TITLE}")])
        report = self.reimport()
        self.assertEqual((report.unchanged, report.updated, report.conflicts), (1, 0, 0))
