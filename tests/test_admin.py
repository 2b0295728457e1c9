from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from notices.models import Category, Notice
from notices.tagging import edit_string_for_tags
from tests.helpers import make_notice


class NoticeAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")
        cls.category = Category.objects.create(
            name="青岚大学", parent=Category.objects.create(name="qinglan.edu.cn")
        )

    def setUp(self) -> None:
        self.client.force_login(self.editor)
        self.notice = make_notice(urlname="abc", imported_at=timezone.now())
        self.notice.categories.add(self.category)
        self.notice.tags.add("寒假")

    def test_admin_requires_login(self) -> None:
        self.client.logout()
        response = self.client.get(reverse("admin:notices_notice_changelist"))
        self.assertEqual(response.status_code, 302)
        self.assertIn(reverse("admin:login"), response["Location"])

    def test_the_list_shows_columns_and_filters(self) -> None:
        response = self.client.get(reverse("admin:notices_notice_changelist"))
        self.assertContains(response, "关于寒假安排的通知")
        self.assertContains(response, "qinglan.edu.cn &gt; 青岚大学")
        self.assertContains(response, "寒假")
        for params in [
            "?has_source=yes",
            "?site=青岚大学",
            f"?categories__id__exact={self.category.id}",
            "?date__year=2021",
            "?q=寒假",
        ]:
            with self.subTest(params=params):
                response = self.client.get(reverse("admin:notices_notice_changelist") + params)
                self.assertContains(response, "关于寒假安排的通知")

    def test_editing_the_body_rerenders_html_and_marks_the_edit(self) -> None:
        url = reverse("admin:notices_notice_change", args=[self.notice.id])
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        form = response.context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(
            body="**新的正文** <script>alert(1)</script>\n",
            date_0="2021-01-15",
            date_1="09:30:00",
            categories=[self.category.id],
            tags="寒假, 新标签",
        )
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.content.decode()[:3000])
        notice = Notice.objects.get(id=self.notice.id)
        self.assertIn("<strong>新的正文</strong>", notice.body_html)
        self.assertNotIn("<script", notice.body_html)
        self.assertTrue(notice.was_edited_since_import)
        self.assertEqual(sorted(notice.tags.names()), ["寒假", "新标签"])

    def test_import_metadata_is_read_only(self) -> None:
        response = self.client.get(reverse("admin:notices_notice_change", args=[self.notice.id]))
        form = response.context["adminform"].form
        for name in [
            "content_hash",
            "source_path",
            "imported_at",
            "edited_at",
            "raw_title",
            "extra",
        ]:
            self.assertNotIn(name, form.fields)

    def test_categories_show_their_path_and_counts(self) -> None:
        response = self.client.get(reverse("admin:notices_category_changelist"))
        self.assertContains(response, "qinglan.edu.cn &gt; 青岚大学")
        self.assertContains(response, "qinglan-edu-cn/青岚大学")
        self.assertEqual(
            {c.full_name: c.notice_count for c in response.context["cl"].result_list},
            {"qinglan.edu.cn": 0, "qinglan.edu.cn > 青岚大学": 1},
        )


class CategoryTreeTests(TestCase):
    def test_moving_a_category_moves_its_subtree(self) -> None:
        root = Category.objects.create(name="a.edu.cn")
        child = Category.objects.create(name="学院", parent=root)
        grandchild = Category.objects.create(name="研究生院", parent=child)
        root.name = "b.edu.cn"
        root.slug = ""
        root.save()
        grandchild.refresh_from_db()
        self.assertEqual(grandchild.path, "b-edu-cn/学院/研究生院")
        self.assertEqual(grandchild.full_name, "b.edu.cn > 学院 > 研究生院")

    def test_names_that_slugify_alike_get_distinct_paths(self) -> None:
        first = Category.objects.create(name="A B")
        second = Category.objects.create(name="a-b")
        self.assertNotEqual(first.path, second.path)


class EditorAdminTests(TestCase):
    """Issue 10: an admin a Chinese editor can work in (branding, layout, tags, preview)."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")

    def setUp(self) -> None:
        self.client.force_login(self.editor)
        self.notice = make_notice(urlname="abc", imported_at=timezone.now())
        self.notice.tags.add("寒假", "学生", "通知公告")
        self.url = reverse("admin:notices_notice_change", args=[self.notice.id])

    def form_data(self, **changes: object) -> dict[str, object]:
        form = self.client.get(self.url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(date_0="2021-01-15", date_1="09:30:00", categories=[])
        data["tags"] = edit_string_for_tags(self.notice.tags.all())  # as the widget shows them
        data.update(changes)
        return data

    def test_branding_is_the_sites_own_and_translated(self) -> None:
        response = self.client.get(reverse("admin:index"))
        self.assertContains(response, "公告栏 管理")
        self.assertNotContains(response, "Django 管理")
        for heading in ["Model name", "Add link", "Change or view list link"]:
            self.assertNotContains(response, heading)
        with self.settings(LANGUAGE_CODE="en"):
            response = self.client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
            self.assertContains(response, "Noticeboard administration")

    def test_tags_are_listed_with_notices_not_apart(self) -> None:
        apps = self.client.get(reverse("admin:index")).context["app_list"]
        self.assertEqual([app["app_label"] for app in apps], ["auth", "notices"])
        notices = next(app for app in apps if app["app_label"] == "notices")
        self.assertIn("Tag", [model["object_name"] for model in notices["models"]])
        app_page = self.client.get(reverse("admin:app_list", args=["notices"]))
        self.assertContains(app_page, 'href="/admin/taggit/tag/"')
        response = self.client.get(reverse("admin:taggit_tag_changelist"))
        self.assertContains(response, "通知公告")
        self.assertContains(response, '&rsaquo; <a href="/admin/notices/">通知</a>')
        self.assertNotContains(response, "标签项")
        add_page = self.client.get(reverse("admin:taggit_tag_add"))
        self.assertContains(add_page, '&rsaquo; <a href="/admin/taggit/tag/">标签</a>')
        self.assertEqual(
            {tag.name: tag.notice_count for tag in response.context["cl"].result_list},
            {"寒假": 1, "学生": 1, "通知公告": 1},
        )

    def test_the_list_gives_the_title_the_room(self) -> None:
        response = self.client.get(reverse("admin:notices_notice_changelist"))
        columns = response.context["cl"].list_display
        self.assertEqual(
            columns, ["action_checkbox", "title", "list_date", "site", "sync_state", "source_link"]
        )
        self.assertNotIn("category_names", columns)
        self.assertContains(response, '<td class="field-list_date">2021-01-15</td>', html=True)
        self.assertContains(response, 'rel="noopener noreferrer">原文</a>')

    def test_the_form_has_a_wide_title_a_tall_body_and_a_preview(self) -> None:
        response = self.client.get(self.url)
        self.assertContains(response, 'class="vTextField notice-title"')
        self.assertContains(response, 'rows="30"')
        self.assertContains(response, 'name="_preview"')
        self.assertContains(response, "notices/admin/notice_admin.css")
        self.assertContains(response, 'class="notice-preview"')
        self.assertContains(response, "标签之间用 ，、； 或英文逗号分隔")
        self.assertContains(response, 'data-suggestions="/admin/notices/notice/tags.json"')

    def test_chinese_commas_stop_once_with_the_tags_then_save(self) -> None:
        response = self.client.post(self.url, self.form_data(tags="研究生，招生，推免"))
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "将保存以下 3 个标签：“招生”、“推免”、“研究生”")
        self.assertContains(response, "将从本通知移除：“学生”、“寒假”、“通知公告”")
        form = response.context["adminform"].form
        self.assertEqual(form["confirmed_tags"].value(), "招生, 推免, 研究生")
        self.assertEqual(sorted(self.notice.tags.names()), ["学生", "寒假", "通知公告"])

        data = self.form_data(tags="研究生，招生，推免", confirmed_tags="招生, 推免, 研究生")
        response = self.client.post(self.url, data)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(sorted(self.notice.tags.names()), sorted(["研究生", "招生", "推免"]))

    def test_changed_tags_after_the_stop_stop_again(self) -> None:
        data = self.form_data(tags="研究生，招生", confirmed_tags="招生, 推免, 研究生")
        response = self.client.post(self.url, data)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.context["adminform"].form["confirmed_tags"].value(), "招生, 研究生"
        )

    def test_unchanged_tags_and_ascii_commas_need_no_confirmation(self) -> None:
        response = self.client.post(self.url, self.form_data())
        self.assertEqual(response.status_code, 302)
        self.assertEqual(sorted(self.notice.tags.names()), ["学生", "寒假", "通知公告"])
        response = self.client.post(self.url, self.form_data(tags="寒假, 学生, 新标签"))
        self.assertEqual(response.status_code, 302)
        self.assertEqual(sorted(self.notice.tags.names()), ["学生", "寒假", "新标签"])

    def test_preview_renders_sanitised_and_saves_nothing(self) -> None:
        before = Notice.objects.get(id=self.notice.id)
        data = self.form_data(
            title="改过的标题",
            body="**预览正文** <script>alert(1)</script><img src=x onerror=alert(1)>\n",
            _preview="预览",
        )
        response = self.client.post(self.url, data)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "这只是预览：尚未保存任何内容。")
        self.assertContains(response, "<strong>预览正文</strong>")
        preview = response.content.decode().split('class="notice-preview"')[1].split("</div>")[0]
        self.assertNotIn("<script", preview)
        self.assertNotIn("onerror", preview)
        self.assertFalse(response.context["adminform"].form.errors)
        after = Notice.objects.get(id=self.notice.id)
        self.assertEqual(
            (after.title, after.body, after.body_html, after.edited_at),
            (before.title, before.body, before.body_html, before.edited_at),
        )

    def test_preview_with_chinese_commas_shows_both(self) -> None:
        data = self.form_data(tags="研究生，招生", _preview="预览")
        response = self.client.post(self.url, data)
        self.assertContains(response, "将保存以下 2 个标签")
        self.assertContains(response, 'class="notice-preview"')
        self.assertEqual(sorted(self.notice.tags.names()), ["学生", "寒假", "通知公告"])

    def test_tag_suggestions_are_for_staff_only(self) -> None:
        url = reverse("admin:notices_notice_tag_suggestions")
        self.assertEqual(self.client.get(url, {"q": "通知"}).json(), {"tags": ["通知公告"]})
        self.assertEqual(len(self.client.get(url).json()["tags"]), 3)
        self.client.logout()
        self.assertEqual(self.client.get(url).status_code, 302)
        User.objects.create_user("reader", password="pw-for-tests")
        self.client.login(username="reader", password="pw-for-tests")
        self.assertEqual(self.client.get(url).status_code, 302)

    def test_the_category_pickers_help_is_chinese(self) -> None:
        catalog = self.client.get(reverse("admin:jsi18n")).content.decode()
        for translated in [
            "选中要选择的%s，然后点击“选择”箭头按钮。",
            "选择全部%s",
            "删除选中的%s",
        ]:
            self.assertIn(json.dumps(translated), catalog)


class AdminAddAndHygieneTests(TestCase):
    """Issue 11, findings 2 and 10: the admin keeps every invariant the importer keeps."""

    RLO, ZWSP = "\u202e", "\u200b"

    @classmethod
    def setUpTestData(cls) -> None:
        cls.editor = User.objects.create_superuser("editor", "editor@example.org", "pw-for-tests")

    def setUp(self) -> None:
        self.client.force_login(self.editor)
        self.add_url = reverse("admin:notices_notice_add")

    def add_data(self, **changes: object) -> dict[str, object]:
        form = self.client.get(self.add_url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(
            title="关于暑假安排的通知",
            site="白鹭学院",
            domain="bailu.edu.cn",
            date_0="2022-07-01",
            date_1="08:00:00",
            body="各部门：\n\n暑假安排如下。\n",
            source_url="https://www.bailu.edu.cn/notice/2022/0701.html",
            tags="暑假, 通知",
            categories=[],
        )
        data.update(changes)
        return data

    def assert_public_pages_answer(self) -> None:
        for url in [
            "/",
            "/?format=json",
            "/atom.xml",
            "/rss.xml",
            "/sitemap.xml",
            "/sitemap-notices.xml",
            "/search/?q=暑假",
            "/search/atom.xml?q=暑假",
            "/sites/白鹭学院/",
            "/tags/",
            "/archive/",
        ]:
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(response.status_code, 200, url)

    def test_adding_twice_saves_two_notices_with_generated_urlnames(self) -> None:
        for title in ["关于暑假安排的通知", "关于暑假值班的通知"]:
            response = self.client.post(self.add_url, self.add_data(title=title))
            self.assertEqual(response.status_code, 302, response.content.decode()[:3000])
        first, second = Notice.objects.order_by("id")
        self.assertRegex(first.urlname, r"^[0-9a-f]{32}$")
        self.assertRegex(second.urlname, r"^[0-9a-f]{32}$")
        self.assertNotEqual(first.urlname, second.urlname)
        self.assertEqual(self.client.get(first.get_absolute_url()).status_code, 200)
        self.assert_public_pages_answer()
        listed = self.client.get("/?format=json").json()
        self.assertEqual(len(listed["results"]), 2)

    def test_a_notice_without_urlname_is_left_out_of_lists_and_gets_one_when_saved(self) -> None:
        make_notice(urlname="", title="关于暑假安排的通知", site="白鹭学院", date=timezone.now())
        visible = make_notice(urlname="visible", site="白鹭学院")
        self.assert_public_pages_answer()
        listed = self.client.get("/?format=json").json()
        self.assertEqual(
            [item["url"].rsplit("/", 2)[-2] for item in listed["results"]], ["visible"]
        )
        self.assertNotContains(self.client.get("/sitemap-notices.xml"), "/notices//")

        broken = Notice.objects.get(urlname="")
        url = reverse("admin:notices_notice_change", args=[broken.id])
        form = self.client.get(url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        data.update(date_0="2022-07-01", date_1="08:00:00", categories=[], tags="")
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.content.decode()[:3000])
        broken.refresh_from_db()
        self.assertRegex(broken.urlname, r"^[0-9a-f]{32}$")
        self.assertNotEqual(broken.urlname, visible.urlname)

    def test_source_urls_the_importer_rejects_are_refused(self) -> None:
        for url in [
            'https://evil.example/"><script>alert(1)</script>',
            "ftp://files.bailu.edu.cn/notice.pdf",
            "https://www.bailu.edu.cn/a b.html",
            "https://www.bailu.edu.cn/'onmouseover='x",
            f"https://www.bailu.edu.cn/{self.RLO}lmth.exe",
            "javascript:alert(1)",
        ]:
            with self.subTest(url=url):
                response = self.client.post(self.add_url, self.add_data(source_url=url))
                self.assertEqual(response.status_code, 200)
                # Django's URLField refuses some already; the importer's rule the rest.
                self.assertIn("source_url", response.context["adminform"].form.errors)
        response = self.client.post(self.add_url, self.add_data(source_url="ftp://bailu.edu.cn/"))
        errors = response.context["adminform"].form.errors
        self.assertIn("请输入以 http:// 或 https:// 开头的地址", str(errors["source_url"]))
        self.assertFalse(Notice.objects.exists())
        response = self.client.post(self.add_url, self.add_data(source_url=""))
        self.assertEqual(response.status_code, 302)
        self.assertEqual(Notice.objects.get().source_url, "")

    def test_bidi_and_zero_width_characters_are_removed_from_admin_input(self) -> None:
        data = self.add_data(
            title=f"关于{self.RLO}暑假安排的通知",
            site=f"白鹭{self.ZWSP}学院",
            tags=f'"暑{self.ZWSP}假", 通知',
            confirmed_tags="暑假, 通知",
        )
        response = self.client.post(self.add_url, data, follow=True)
        self.assertEqual(response.status_code, 200)
        notice = Notice.objects.get()
        self.assertEqual((notice.title, notice.site), ("关于暑假安排的通知", "白鹭学院"))
        self.assertEqual(sorted(notice.tags.names()), ["暑假", "通知"])
        shown = [str(message) for message in response.context["messages"]]
        self.assertIn("标题：已删除 1 个不可见字符（双向控制符或零宽字符）。", shown)

    def test_an_invisible_only_title_is_an_error(self) -> None:
        response = self.client.post(self.add_url, self.add_data(title=self.ZWSP + self.RLO))
        self.assertEqual(response.status_code, 200)
        self.assertIn("title", response.context["adminform"].form.errors)

    def test_tag_and_category_names_are_cleaned_in_their_own_admin(self) -> None:
        response = self.client.post(
            reverse("admin:taggit_tag_add"), {"name": f"招{self.RLO}生", "slug": "zhaosheng"}
        )
        self.assertEqual(response.status_code, 302, response.content.decode()[:2000])
        response = self.client.post(
            reverse("admin:notices_category_add"), {"name": f"白鹭{self.ZWSP}学院", "slug": "bailu"}
        )
        self.assertEqual(response.status_code, 302)
        from taggit.models import Tag

        self.assertEqual(Tag.objects.get().name, "招生")
        self.assertEqual(Category.objects.get().name, "白鹭学院")
