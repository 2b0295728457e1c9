from __future__ import annotations

from django.contrib.auth.models import User
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from notices.models import Category, Notice
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
