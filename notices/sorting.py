"""Sorting names as a Chinese reader expects: Chinese by pinyin, Latin letters by the alphabet
ignoring case, interleaved as a dictionary would (安徽 Beijing 北京 长春), not by code point
(which puts 东 临 义 云 in radical order and every capital before every small letter)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

from pypinyin import Style, lazy_pinyin

T = TypeVar("T")


@lru_cache(maxsize=20_000)
def name_key(name: str) -> tuple[tuple[str, ...], str]:
    """A sort key: the pinyin syllables without tones (phrase-aware: 长春 is chang chun), runs
    of other characters case-folded; the name itself breaks ties so the order is total.
    Cached: a tag index sorts thousands of names, and pypinyin costs about 20 µs a name."""
    syllables = tuple(part.strip().casefold() for part in lazy_pinyin(name, style=Style.NORMAL))
    return tuple(part for part in syllables if part), name


def sorted_by_name(items: Iterable[T], name: Callable[[T], str]) -> list[T]:
    return sorted(items, key=lambda item: name_key(name(item)))
