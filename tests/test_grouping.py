"""Grouping near-duplicates (issue 15, part 1): notices/grouping.py's signatures, and the
groups the importer, Notice.save() and deletions keep."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

from django.test import SimpleTestCase

from notices import grouping
from notices.models import Notice, NoticeBand
from tests.helpers import make_notice
from tests.test_importing import ImportTestCase, urlname

# A notice of our own, and what other sites make of it.
ORIGINAL = """各学院、各部门：

为做好2024年冬季校园消防安全工作，经学校研究，现将有关事项通知如下：

一、各单位要在12月15日前完成本单位消防设施的自查，重点检查实验室、学生宿舍和食堂的灭火器、应急照明和疏散通道，发现问题立即整改。

二、保卫处将于12月20日至12月28日组织联合检查组，对各单位的自查情况进行抽查，抽查结果在全校范围内通报。

三、各学院要结合实际，面向学生开展一次消防疏散演练，演练方案报保卫处备案，演练照片和总结于次年1月5日前报送。

联系人：周老师，电话：0571-88001234。

保卫处

2024年12月2日
"""

REPUBLISHED = """来源：青岚大学保卫处
发布时间：2024-12-03 浏览次数：386

各学院,各部门:

为做好２０２４年冬季校园消防安全工作,经学校研究,现将有关事项通知如下:

一、各单位要在１２月１５日前完成本单位消防设施的自查，重点检查实验室、学生宿舍和食堂的灭火器、应急照明和疏散通道，发现问题立即整改。
二、保卫处将于１２月２０日至１２月２８日组织联合检查组，对各单位的自查情况进行抽查，抽查结果在全校范围内通报。
三、各学院要结合实际，面向学生开展一次消防疏散演练，演练方案报保卫处备案，演练照片和总结于次年１月５日前报送。

联系人：周老师，电话：0571-88001234。

保卫处

2024年12月2日

责任编辑：李明
【打印本页】【关闭窗口】
"""

# The same form a year later: most of the words, other dates.
NEXT_YEAR = (
    ORIGINAL.replace("2024年", "2025年")
    .replace("12月15日", "12月12日")
    .replace("12月20日至12月28日", "12月18日至12月26日")
)

LECTURE = """各位师生：

青岚讲坛第{n}期将于{day}下午2:30在图书馆报告厅举行，主讲人为文学院{who}教授，题目为“宋代笔记中的城市生活”。讲座面向全校师生开放，无需预约，请提前十分钟入场，入场后请将手机调至静音。

欢迎广大师生踊跃参加。

党委宣传部
"""


class SignatureTests(SimpleTestCase):
    def test_a_republished_copy_is_the_same_notice(self) -> None:
        a, b = grouping.signature(ORIGINAL), grouping.signature(REPUBLISHED)
        self.assertTrue(grouping.same_notice(grouping.unpack(a), grouping.unpack(b)))

    def test_the_same_form_with_other_dates_is_another_notice(self) -> None:
        a, b = map(grouping.unpack, map(grouping.signature, (ORIGINAL, NEXT_YEAR)))
        self.assertGreater(grouping.similarity(a, b), grouping.SAME)  # alike in words
        self.assertFalse(grouping.same_notice(a, b))

    def test_lectures_of_one_series_are_other_notices(self) -> None:
        third = LECTURE.format(n=3, day="3月5日", who="王")
        fourth = LECTURE.format(n=4, day="3月12日", who="王")
        a, b = map(grouping.unpack, map(grouping.signature, (third, fourth)))
        self.assertFalse(grouping.same_notice(a, b))

    def test_terms_of_a_course_in_other_years_are_other_notices(self) -> None:
        # No line is the same but for its numbers (周四 / 周一, 春季 / 秋季): the years and
        # days each names and the other does not tell them apart.
        course = (
            "图书馆 {years} 学年度{term}学期专题培训讲座，将为大家介绍如何使用排版软件撰写论文。"
            "讲座讲解基础知识、下载安装、模板使用，使读者掌握论文排版的基本方法和技巧。\n\n"
            "讲授时长约为一个小时，之后有上机练习和现场交流环节，请自带笔记本电脑。\n\n"
            "- 时间：{day}（{weekday}）19:00\n- 地点：图书馆401培训教室\n\n主办：图书馆\n"
        )
        spring = course.format(years="2014—2015", term="春季", day="2015年4月23日", weekday="周四")
        autumn = course.format(years="2015—2016", term="秋季", day="2015年11月23日", weekday="周一")
        a, b = map(grouping.unpack, map(grouping.signature, (spring, autumn)))
        self.assertGreater(grouping.similarity(a, b), grouping.SAME)
        self.assertFalse(grouping.same_notice(a, b))

    def test_a_short_body_is_not_grouped(self) -> None:
        self.assertIsNone(grouping.signature("各学院、各部门：\n\n现将寒假安排通知如下。\n"))

    def test_signatures_are_the_same_in_another_process(self) -> None:
        # Python's hash() is salted per process; a signature stored by one import must
        # match one made by the next.
        code = (
            "import django, sys; django.setup(); from notices import grouping; "
            "sys.stdout.write(grouping.signature(sys.stdin.read()).hex())"
        )
        made = subprocess.run(
            [sys.executable, "-c", code],
            input=ORIGINAL,
            capture_output=True,
            text=True,
            check=True,
            env={"DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONHASHSEED": "12345"},
        )
        self.assertEqual(made.stdout, grouping.signature(ORIGINAL).hex())


def group_of(url_number: int) -> tuple[int | None, int]:
    notice = Notice.objects.get(urlname=urlname(url_number))
    return notice.group, notice.group_size


class ImportGroupTests(ImportTestCase):
    def write_copy(self, name: str, n: int, body: str, date: str, site: str = "青岚大学") -> None:
        self.write(
            name, n, body=body, date=date, title=f"{site}->关于冬季消防安全检查的通知 | x.cn"
        )

    def test_copies_from_other_sites_form_one_group_led_by_the_earliest(self) -> None:
        self.write_copy("a.md", 1, REPUBLISHED, "2024-12-03 10:00:00", "青岚新闻网")
        self.write_copy("b.md", 2, ORIGINAL, "2024-12-02 09:00:00")
        self.write_copy("c.md", 3, NEXT_YEAR, "2025-12-01 09:00:00")
        self.write_copy("d.md", 4, LECTURE.format(n=3, day="3月5日", who="王"), "2024-03-01")
        self.run_import()
        lead = Notice.objects.get(urlname=urlname(2)).id
        self.assertEqual(group_of(1), (lead, 2))
        self.assertEqual(group_of(2), (lead, 2))
        self.assertEqual(group_of(3), (None, 1))
        self.assertEqual(group_of(4), (None, 1))

    def test_the_report_carries_grouping_cpu_with_the_signatures_made(self) -> None:
        # What `make bench` shows as grouping's share: placing, and each signature's CPU as
        # it was made (in a worker, or here for one batch), once per notice written.
        self.write_copy("a.md", 1, REPUBLISHED, "2024-12-03 10:00:00", "青岚新闻网")
        self.write_copy("b.md", 2, ORIGINAL, "2024-12-02 09:00:00")
        report = self.run_import()
        self.assertGreater(report.grouping_seconds, 0)
        self.assertGreater(report.signature_seconds, 0)
        again = self.run_import()  # unchanged: nothing signed, nothing placed
        self.assertEqual((again.signature_seconds, again.grouping_seconds), (0, 0))

    def test_a_new_file_joins_its_group_and_an_earlier_one_leads_it(self) -> None:
        self.write_copy("a.md", 1, REPUBLISHED, "2024-12-03 10:00:00")
        self.write_copy("c.md", 3, NEXT_YEAR, "2025-12-01 09:00:00")
        self.run_import()
        self.assertEqual(group_of(1), (None, 1))
        self.write_copy("b.md", 2, ORIGINAL, "2024-12-02 09:00:00")
        self.run_import()
        lead = Notice.objects.get(urlname=urlname(2)).id
        self.assertEqual([group_of(1), group_of(2)], [(lead, 2), (lead, 2)])
        self.assertEqual(group_of(3), (None, 1))

    def test_copies_in_one_batch_group_when_more_than_key_rows_share_their_keys(self) -> None:
        # Batch-mates are found in memory, as bounded as the table is.
        for n in range(1, 6):
            self.write_copy(f"{n}.md", n, REPUBLISHED + "\n" * n, f"2024-12-0{n} 10:00:00")
        with mock.patch.object(grouping, "KEY_ROWS", 2):
            self.run_import()
        lead = Notice.objects.get(urlname=urlname(1)).id
        self.assertEqual([group_of(n) for n in range(1, 6)], [(lead, 5)] * 5)

    def test_a_changed_file_leaves_its_group(self) -> None:
        self.write_copy("a.md", 1, REPUBLISHED, "2024-12-03 10:00:00")
        self.write_copy("b.md", 2, ORIGINAL, "2024-12-02 09:00:00")
        self.run_import()
        self.write_copy("a.md", 1, LECTURE.format(n=3, day="3月5日", who="王"), "2024-12-03")
        self.run_import()
        self.assertEqual([group_of(1), group_of(2)], [(None, 1), (None, 1)])
        self.assertEqual(NoticeBand.objects.filter(notice__urlname=urlname(1)).count(), 16)


class GroupOfThree(ImportTestCase):
    """One notice and two copies, saved as the admin saves them."""

    def setUp(self) -> None:
        super().setUp()
        self.first = make_notice(body=ORIGINAL, urlname="first", date=self.day(2))
        self.second = make_notice(body=REPUBLISHED, urlname="second", date=self.day(3))
        self.third = make_notice(
            body=REPUBLISHED + "\n转载请注明出处\n", urlname="third", date=self.day(4)
        )

    @staticmethod
    def day(number: int):
        import datetime as dt

        return dt.datetime(2024, 12, number, 9, tzinfo=dt.UTC)

    def groups(self) -> list[tuple[int | None, int]]:
        rows = Notice.objects.filter(urlname__in=["first", "second", "third"])
        return list(rows.order_by("urlname").values_list("group", "group_size"))


class EditAndDeleteTests(GroupOfThree):
    def test_saved_notices_group_as_imported_ones(self) -> None:
        lead = self.first.id
        self.assertEqual(self.groups(), [(lead, 3), (lead, 3), (lead, 3)])

    def test_deleting_the_lead_moves_it_to_the_next_earliest(self) -> None:
        self.first.delete()
        second = self.second.id
        self.assertEqual(self.groups(), [(second, 2), (second, 2)])
        Notice.objects.filter(urlname="second").delete()
        self.assertEqual(self.groups(), [(None, 1)])

    def test_an_edited_body_leaves_the_group_and_an_edited_date_moves_the_lead(self) -> None:
        notice = Notice.objects.get(urlname="third")
        notice.date = self.day(1)
        notice.save()
        self.assertEqual(self.groups(), [(notice.id, 3)] * 3)
        notice.body = LECTURE.format(n=3, day="3月5日", who="王")
        notice.render()
        notice.save()
        lead = self.first.id
        self.assertEqual(self.groups(), [(lead, 2), (lead, 2), (None, 1)])


class PageAndJsonTests(GroupOfThree):
    """What a reader sees of a group: 也发布于 on each page, N 个来源 in lists, the JSON."""

    def setUp(self) -> None:
        super().setUp()
        Notice.objects.filter(urlname="second").update(site="青岚新闻网")
        Notice.objects.filter(urlname="third").update(site="滨江日报", source_url="")

    def test_the_page_lists_every_other_source_with_its_date_page_and_original(self) -> None:
        page = self.client.get(self.first.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans")
        html = page.content.decode()
        block = html[html.index('class="other-copies"') :]
        block = block[: block.index("</section>")]
        self.assertIn("也发布于", block)
        self.assertIn('href="/notices/second/"', block)
        self.assertIn("青岚新闻网", block)
        self.assertIn("滨江日报", block)
        self.assertIn("2024年12月3日", block)
        # The second has an original to link to, the third none.
        self.assertEqual(block.count("查看原文"), 1)
        self.assertIn(self.second.source_url, block)
        self.assertNotIn('href="/notices/first/"', block)  # not itself

    def test_a_notice_from_one_source_has_no_block(self) -> None:
        alone = make_notice(body=LECTURE.format(n=3, day="3月5日", who="王"), urlname="alone")
        self.assertNotContains(self.client.get(alone.get_absolute_url()), "other-copies")

    def test_lists_say_how_many_sources_a_notice_has(self) -> None:
        # Every copy listed (?all=1), each says so; by default the group is one entry.
        page = self.client.get("/", {"all": "1"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        self.assertContains(page, "3 个来源", count=3)
        english = self.client.get("/", {"all": "1"}, HTTP_ACCEPT_LANGUAGE="en")
        self.assertContains(english, "3 sources", count=3)
        self.assertContains(self.client.get("/", HTTP_ACCEPT_LANGUAGE="en"), "3 sources", count=1)

    def test_the_json_carries_the_group_as_the_description_says(self) -> None:
        from tests.test_api import assert_matches, response_schema

        data = self.client.get(self.second.get_absolute_url(), {"format": "json"}).json()
        assert_matches(data, response_schema("/notices/{urlname}/"))
        self.assertEqual(data["group_size"], 3)
        group = data["group"]
        self.assertEqual((group["id"], group["size"]), (self.first.id, 3))
        self.assertEqual(
            [(m["urlname"], m["site"], m["lead"]) for m in group["members"]],
            [
                ("first", "青岚大学", True),
                ("second", "青岚新闻网", False),
                ("third", "滨江日报", False),
            ],
        )
        self.assertTrue(group["members"][1]["url"].endswith("/notices/second/"))
        alone = make_notice(body=LECTURE.format(n=3, day="3月5日", who="王"), urlname="alone")
        data = self.client.get(alone.get_absolute_url(), {"format": "json"}).json()
        self.assertEqual((data["group"], data["group_size"]), (None, 1))


class SharedKeyTests(GroupOfThree):
    """A band key many notices share is read for KEY_ROWS of them only (issue 15: boilerplate
    keys made grouping's cost grow with the archive)."""

    def shared_key(self) -> int:
        return grouping.band_keys(grouping.signature(ORIGINAL))[0]

    def test_a_key_is_read_for_key_rows_notices_however_many_share_it(self) -> None:
        key = self.shared_key()
        with mock.patch.object(grouping, "KEY_ROWS", 2):
            found = grouping.Groups()._sharing({key, 12345})
        self.assertEqual(NoticeBand.objects.filter(key=key).count(), 3)
        self.assertEqual(len(found[key]), 2)
        self.assertLess(set(found[key]), {self.first.id, self.second.id, self.third.id})
        self.assertNotIn(12345, found)

    def test_a_full_key_is_read_once_stores_no_more_rows_and_its_first_notice_is_compared(
        self,
    ) -> None:
        key = self.shared_key()
        # Written as the importer writes them (no save(): placed below, by one Groups).
        copies = Notice.objects.bulk_create(
            Notice(
                urlname=f"copy-{n}",
                title="t",
                date=self.day(5 + n),
                body="",
                signature=grouping.signature(ORIGINAL + f"\n（完）{n}\n"),
            )
            for n in range(2)
        )
        groups = grouping.Groups()
        with mock.patch.object(grouping, "KEY_ROWS", 3):
            groups.place([copies[0].id])
            self.assertIn(groups.full[key], {self.first.id, self.second.id, self.third.id})
            with mock.patch.object(groups, "_sharing", wraps=groups._sharing) as sharing:
                groups.place([copies[1].id])
        self.assertNotIn(key, sharing.call_args.args[0])
        self.assertEqual(NoticeBand.objects.filter(key=key).count(), 3)
        rows = Notice.objects.filter(id__in=[c.id for c in copies]).values_list("group", flat=True)
        self.assertEqual(set(rows), {self.first.id})

    def test_a_copy_whose_keys_are_shared_by_more_than_key_rows_still_joins_its_group(self) -> None:
        with mock.patch.object(grouping, "KEY_ROWS", 2):
            fourth = make_notice(
                body=REPUBLISHED.replace("李明", "王芳"), urlname="fourth", date=self.day(5)
            )
            fifth = make_notice(body=ORIGINAL + "\n（完）\n", urlname="fifth", date=self.day(6))
        self.assertGreater(NoticeBand.objects.filter(key=self.shared_key()).count(), 2)
        lead = self.first.id
        rows = Notice.objects.filter(id__in=[fourth.id, fifth.id]).order_by("id")
        rows = rows.values_list("group", "group_size")
        self.assertEqual(list(rows), [(lead, 5), (lead, 5)])
        self.assertEqual(self.groups(), [(lead, 5)] * 3)
