"""The real seed document from ../shared/seeds (present on the planners' machines only)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from django.conf import settings
from django.test import TestCase

from notices.importing import import_archive
from notices.models import Notice

SEEDS = Path(settings.BASE_DIR).parent / "shared" / "seeds"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not on this machine")
class RealSeedTests(TestCase):
    def test_it_imports_the_seed_with_every_field(self) -> None:
        report = import_archive([SEEDS])
        self.assertEqual(report.failed, 0, report.errors)
        notice = Notice.objects.get(urlname="9ea35e8ac86a4ac04fc09fb379b89deb")
        self.assertEqual(notice.site, "哈尔滨工程大学")
        self.assertEqual(notice.domain, "hrbeu.com.cn")
        self.assertTrue(notice.title.startswith("中共哈尔滨工程大学委员会关于"))
        self.assertTrue(notice.title.endswith("的通知"))
        shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
        self.assertEqual(notice.date, dt.datetime(2020, 1, 31, 15, 31, 34, tzinfo=shanghai))
        self.assertEqual(notice.source_url, "http://gongxue.cn/news/2020/202001/news_197527.html")
        self.assertEqual(list(notice.tags.names()), ["哈尔滨工程大学"])
        self.assertEqual(
            [c.full_name for c in notice.categories.all()], ["hrbeu.com.cn > 哈尔滨工程大学"]
        )
        response = self.client.get(notice.get_absolute_url())
        self.assertContains(response, notice.source_url)
        self.assertContains(response, "疫情防控")
