from __future__ import annotations

from django.test import SimpleTestCase, TestCase
from taggit.forms import TagField

from notices.tagging import edit_string_for_tags, parse_tags, splits_unlike_taggit
from tests.helpers import make_notice


class ParseTagsTests(SimpleTestCase):
    def test_chinese_separators_split(self) -> None:
        for typed in [
            "研究生，招生，推免",
            "研究生、招生、推免",
            "研究生；招生；推免",
            "研究生;招生;推免",
            "研究生, 招生, 推免",
            "研究生，招生、推免;",
            " 研究生 ， 招生 ，，推免 ",
        ]:
            with self.subTest(typed=typed):
                self.assertEqual(parse_tags(typed), sorted(["研究生", "招生", "推免"]))

    def test_quotes_still_group(self) -> None:
        self.assertEqual(parse_tags('"招生，推免", 研究生'), ["招生，推免", "研究生"])
        self.assertEqual(parse_tags("“招生，推免”、研究生"), ["招生，推免", "研究生"])
        self.assertEqual(parse_tags('"Open Day"'), ["Open Day"])

    def test_spaces_separate_only_without_a_separator(self) -> None:
        self.assertEqual(parse_tags("研究生 招生"), ["招生", "研究生"])
        self.assertEqual(parse_tags("研究生\u3000招生"), ["招生", "研究生"])
        self.assertEqual(parse_tags("Open Day，招生"), ["Open Day", "招生"])

    def test_unclosed_quote_is_text_and_empty_input_is_no_tags(self) -> None:
        self.assertEqual(parse_tags('"研究生，招生'), ['"研究生', "招生"])
        self.assertEqual(parse_tags(""), [])
        self.assertEqual(parse_tags(None), [])
        self.assertEqual(parse_tags("，、；"), [])

    def test_duplicates_collapse_sorted(self) -> None:
        self.assertEqual(parse_tags("招生，招生、研究生"), ["招生", "研究生"])

    def test_edit_string_round_trips(self) -> None:
        for names in [
            ["研究生", "招生"],
            ["招生，推免", "研究生"],
            ["a、b", "c;d", "Open Day", "e,f"],
            ["单个"],
        ]:
            with self.subTest(names=names):
                self.assertEqual(parse_tags(edit_string_for_tags(names)), sorted(names))
        self.assertEqual(edit_string_for_tags(["研究生", "招生，推免"]), '"招生，推免", 研究生')

    def test_what_taggit_would_have_split_otherwise_is_flagged(self) -> None:
        self.assertTrue(splits_unlike_taggit("研究生，招生，推免"))
        self.assertTrue(splits_unlike_taggit("研究生;招生"))
        self.assertFalse(splits_unlike_taggit("研究生, 招生"))
        self.assertFalse(splits_unlike_taggit("研究生"))
        self.assertFalse(splits_unlike_taggit(""))


class TaggitUsesTheParserTests(TestCase):
    def test_the_settings_reach_taggit(self) -> None:
        self.assertEqual(TagField().clean("研究生，招生，推免"), sorted(["研究生", "招生", "推免"]))
        notice = make_notice(urlname="tagging")
        notice.tags.set(TagField().clean("研究生，招生"))
        self.assertEqual(sorted(notice.tags.names()), ["招生", "研究生"])
