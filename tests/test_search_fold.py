from __future__ import annotations

import random
import unicodedata

from django.test import SimpleTestCase

from notices import search


def folded_each(text: str) -> str:
    """What folding means, one character at a time: the table's replacement or the character."""
    return "".join(search._fold_table().get(ord(char), char) for char in text)


class FoldTests(SimpleTestCase):
    def test_it_folds_traditional_and_full_width_characters(self) -> None:
        self.assertEqual(search._fold("關於２０２３年，寒假"), "关于2023年,寒假")

    def test_it_folds_traditional_characters_beyond_the_basic_plane(self) -> None:
        beyond = {chr(code): value for code, value in search._fold_table().items() if code > 0xFFFF}
        self.assertTrue(beyond)
        for char, simple in list(beyond.items())[:50]:
            self.assertEqual(search._fold(f"甲{char}乙"), f"甲{simple}乙")

    def test_it_leaves_other_characters_as_they_are(self) -> None:
        text = "通知 notice 😀 𠀀 \u3002 ABC abc ½"
        self.assertEqual(search._fold(text), folded_each(text))
        self.assertIn("😀", search._fold(text))

    def test_it_folds_each_character_as_the_table_says(self) -> None:
        rng = random.Random(13)
        table = list(search._fold_table())
        for _ in range(2000):
            chars = [
                chr(rng.choice(table)) if rng.random() < 0.3 else chr(rng.randrange(0x20, 0x30000))
                for _ in range(rng.randrange(0, 40))
            ]
            text = "".join(char for char in chars if unicodedata.category(char) != "Cs")
            self.assertEqual(search._fold(text), folded_each(text), ascii(text))
