"""django-taggit 6.1.0's own matrix stops at Django 5.0: prove it works on our Django 5.2."""

from __future__ import annotations

from importlib.metadata import version

import django
from django.db import connection
from django.test import TestCase
from taggit.models import Tag

from notices.models import TaggedNotice
from tests.helpers import make_notice


class TaggitOnDjango52Tests(TestCase):
    def test_the_pinned_versions_are_installed(self) -> None:
        self.assertEqual(django.VERSION[:2], (5, 2))
        self.assertEqual(version("django-taggit"), "6.1.0")

    def test_taggit_tables_exist_after_migrate(self) -> None:
        tables = connection.introspection.table_names()
        self.assertIn(Tag._meta.db_table, tables)
        self.assertIn(TaggedNotice._meta.db_table, tables)

    def test_chinese_tags_get_chinese_slugs_through_the_fk_table(self) -> None:
        notice = make_notice()
        notice.tags.add("奖学金", "研究生")
        notice.tags.set(["奖学金", "招生"])
        self.assertEqual(sorted(notice.tags.names()), ["奖学金", "招生"])
        self.assertEqual(Tag.objects.get(name="奖学金").slug, "奖学金")
        self.assertEqual(TaggedNotice.objects.filter(content_object=notice).count(), 2)
