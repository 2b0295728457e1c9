"""The same notice from several sources (issue 15, part 1): near-duplicate bodies grouped.

A notice's *signature* is made from its body alone (in the importer's worker processes, with
the HTML): the body normalised as search normalises it (full-width -> half-width, traditional
-> simplified), without the lines a republisher adds or changes (来源：, 责任编辑：, 发布时间,
浏览次数, very short lines), without punctuation and spaces; then a one-permutation MinHash
of its 5-character shingles (BINS minimums, crc32: stable across processes and runs, where
Python's hash() is salted). Only the shingles whose first character falls in a fixed quarter
of the alphabet are hashed: the same quarter in every copy, so the estimate stays unbiased
at a quarter of the cost (hashing every shingle cost 0.5-1 ms per notice in Python).

The signature also lists each numbered line as (its text with the numbers masked, its numbers),
and the body's years, days and term numbers: two bodies that share a line but with other
numbers ("第3期…3月5日" and "第4期…3月12日", the same form with other dates), or that each name
a year or a day the other does not (a lecture series' 2015 and 2016 terms), are different
notices however alike the rest is.

Candidates come from NoticeBand, an indexed table of BANDS band keys per notice (BAND_ROWS
bins each, LSH: two notices share a key with probability ~ J^BAND_ROWS per band), looked up for
a whole batch in one query that reads at most KEY_ROWS notices a key. A key of boilerplate is
shared by more notices of its template the larger the archive: read in full, and then its
first KEY_ROWS rows compared by every newcomer, it made placing grow with N (0.15 ms a notice
at 10,000, 0.21 at 100,000 on PostgreSQL, most of the growth in reading the candidates'
signatures). So a key found with KEY_ROWS rows is "full": the run remembers it with its first
notice, reads it no more, stores no more rows for it, and that one notice is the candidate it
gives (a copy of a group republished more than KEY_ROWS times still meets its first member).
At most MAX_CANDIDATES per notice (the most band hits first) are compared by their estimated
Jaccard, their signatures read through a cache of the last SIGNATURES_KEPT (a full key's first
notice is everyone's candidate; dates and groups are read only for the notices matched).
What still grows with N, on SQLite only: inserting the band rows, ~1.6 million keys at 100,000
notices in a 30 MB index written at random places through a 2 MB page cache.
A notice joins the group of its best match; the group's
lead is its earliest notice (date, id), and every member stores the lead's id and the size.
Removing or editing a member regroups the rest of its group from their stored signatures.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import struct
import unicodedata
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

from django.db import connections

from notices import rows as rows_module

BINS = 128
# Bins per band, and bands: the S-curve turns at (1/BANDS)^(1/BAND_ROWS) ~ 0.71; a pair at
# J = 0.8 shares a band with probability 0.95, at J = 0.4 (notices of one template) 0.01.
BAND_ROWS = 8
BANDS = 16
SHINGLE = 5
MIN_TEXT = 60  # characters of normalised text: shorter bodies are not grouped (too little to judge)
# The estimated Jaccard two copies need at least: the labelled set's copies are 0.8 or more
# (a few 0.6-0.7); in the corpus, different notices of one series without a telling number
# reach 0.56.
SAME = 0.7
MAX_CANDIDATES = 8  # compared per notice: bounded time per document, whatever the archive
# Notices read per band key: a key of a true copy's group is shared by its few members; one
# of boilerplate by a share of every notice of its template, more as the archive grows.
KEY_ROWS = 12
SIGNATURES_KEPT = 5000  # candidates' signatures kept from batch to batch: ~5 MB
MAX_LINES = 64  # numbered lines kept in a signature
_EMPTY = 0xFFFFFFFF
_HEAD = struct.Struct(f"<{BINS}I")
_LINE = struct.Struct("<II")
_KEY = itemgetter(1)

# Lines a republisher adds or rewrites: who, where from, when, how often read.
_BYLINE = re.compile(
    r"^\W*(来源|稿源|信息来源|文章来源|转载|转自|原文|原文链接|原文地址|责任编辑|编辑|审核|审稿|"
    r"初审|复审|终审|作者|撰稿|文字|图片|摄影|供稿|发布时间|发布日期|发布者|发布人|更新时间|"
    r"浏览次数|点击次数|阅读次数|浏览量|点击量|阅读量|浏览|点击|阅读)\s*[:：]"
)
_ADDRESS = re.compile(r"\]\([^)]*\)|https?://\S+|<[^>]*>")
# What is kept of a line: letters and digits, no punctuation, spaces or "_" (found and joined,
# which costs two thirds of substituting the runs between them away).
_WORD = re.compile(r"[^\W_]+|\n")
# Split by its numbers (captured): the masked line and its numbers in one pass.
_NUMBER = re.compile(r"(\d+|[〇零一二三四五六七八九十百千]+(?=[期届次讲批轮号年月日]))")
_DIGITS = re.compile(r"\d+")  # a year is a run of 4 (19xx, 20xx), a month a run of 1-2 before 月
_DAY_AFTER = re.compile(r"月(\d{1,2})日")
_TERM = re.compile(r"第(\d+|[〇零一二三四五六七八九十百]+)([期届次讲批轮])")
_SHORT_LINE = 3  # characters besides numbers: "#年#月#日", a date alone (its sign-off) counts


@functools.cache
def _sampled_shingles() -> re.Pattern[str]:
    """Overlapping 5-character shingles whose first character is one of a fixed quarter of
    code points (by a multiplicative hash: neighbouring characters fall in either way)."""
    starts = "".join(
        re.escape(chr(code))
        for code in range(0x30, 0x10000)
        if not 0xD800 <= code < 0xE000 and (code * 2654435761) >> 30 & 3 == 0
    )
    return re.compile(f"(?=([{starts}].{{{SHINGLE - 1}}}))", re.DOTALL)


@functools.cache
def _foldable() -> re.Pattern[str]:
    """Letters and digits normalise() would change beyond casefolding: full-width ones,
    traditional characters, compatibility forms (①, ㈠, ﬁ …). Not punctuation (，：（）, in
    nearly every body): a signature drops it either way."""
    from notices.search import _fold_table

    table = _fold_table()
    codes = []
    for code in range(0xA0, 0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        folded = table.get(code, unicodedata.normalize("NFKC", char))
        if folded != char and any(c.isalnum() for c in char + folded):
            codes.append(code)
    return re.compile("[" + "".join(re.escape(chr(code)) for code in codes) + "]")


class Signature(NamedTuple):
    bins: int  # the BINS minimums, 32 bits each, as one integer (compared by one XOR)
    lines: frozenset[tuple[int, int]]  # (hash of the masked line, hash of its numbers)


def text_lines(body: str) -> list[str]:
    """The lines of `body` that say what the notice is: normalised, without addresses,
    bylines and punctuation."""
    from notices.search import normalise  # search imports the models, which import this

    # Folding every character cost a third of a signature; most bodies have none to fold.
    text = normalise(body) if _foldable().search(body) else body.casefold()
    kept = "\n".join(line for line in text.splitlines() if not _BYLINE.match(line))
    words = "".join(_WORD.findall(_ADDRESS.sub("", kept)))
    return [line for line in words.split("\n") if len(line) > 2]


def signature(body: str) -> bytes | None:
    """The stored signature of a body (None: too short to group)."""
    lines = text_lines(body)
    text = "".join(lines)
    if len(text) < MIN_TEXT:
        return None
    mins, mask = [_EMPTY] * BINS, BINS - 1
    for value in map(zlib.crc32, map(str.encode, set(_sampled_shingles().findall(text)))):
        if value < mins[value & mask]:
            mins[value & mask] = value
    _densify(mins)
    numbered = set()
    for line in lines:
        parts = _NUMBER.split(line)
        if len(parts) > 1:
            # Masked with "#": punctuation, so no line has one of its own.
            numbers, masked = parts[1::2], "#".join(parts[::2])
            if len(masked) - len(numbers) >= _SHORT_LINE:
                numbered.add(
                    _LINE.pack(zlib.crc32(masked.encode()), zlib.crc32(" ".join(numbers).encode()))
                )
    # Years, days and term numbers, as (0, hash): the facts that tell one issue from the next.
    facts = {_LINE.pack(0, zlib.crc32(fact.encode())) for fact in _facts(text)}
    return _HEAD.pack(*mins) + b"".join(sorted(numbered)[:MAX_LINES] + sorted(facts)[:MAX_LINES])


def _facts(text: str) -> set[str]:
    """Years (19xx, 20xx), days ("3-5" for 3月5日) and term numbers (第3期) in `text`, from
    its runs of digits (one pass: a regex each, led by a lookbehind, cost three times it)."""
    found = set()
    day_after = _DAY_AFTER.match
    for match in _DIGITS.finditer(text):
        run = match[0]
        if len(run) == 4:
            if run[:2] in ("19", "20"):
                found.add(run)
        elif len(run) <= 2 and (day := day_after(text, match.end())):
            found.add(f"{int(run)}-{int(day[1])}")
    if "第" in text:
        found.update(f"第{m[1]}{m[2]}" for m in _TERM.finditer(text))
    return found


def _densify(mins: list[int]) -> None:
    """Fill empty bins from the next filled one (rotation), so that two copies with the
    same shingles fill them alike; the offset keeps borrowed values apart from real ones."""
    empty = [slot for slot, value in enumerate(mins) if value == _EMPTY]
    if len(empty) == BINS:
        return
    for slot in empty:
        step = 1
        while mins[(slot + step) % BINS] == _EMPTY:
            step += 1
        mins[slot] = (mins[(slot + step) % BINS] + step * 0x9E3779B1) & 0xFFFFFFFE


def unpack(stored: bytes) -> Signature:
    stored = bytes(stored)
    lines = frozenset(_LINE.iter_unpack(stored[_HEAD.size :]))
    return Signature(_bins(stored), lines)


def _bins(stored: bytes) -> int:
    return int.from_bytes(stored[: _HEAD.size], "little")


def band_keys(stored: bytes) -> list[int]:
    """The BANDS LSH keys of a signature: the band number and a hash of its bins, in a
    signed 64-bit integer (a BigIntegerField on both databases)."""
    raw = bytes(stored)[: _HEAD.size]
    width = BAND_ROWS * 4
    return [
        (band << 32 | zlib.crc32(raw[band * width : (band + 1) * width])) - (1 << 62)
        for band in range(BANDS)
    ]


def similarity(a: Signature, b: Signature) -> float:
    """The estimated Jaccard similarity of the two bodies' shingles."""
    return _agreement(a.bins, b.bins)


def _agreement(a: int, b: int) -> float:
    """The share of bins two signatures' bins (_bins()) agree on: the words of their XOR that
    are 0 (a quarter of the cost of comparing 128 pairs of ints in Python)."""
    words = memoryview((a ^ b).to_bytes(_HEAD.size, "little")).cast("I")
    return words.tolist().count(0) / BINS


def numbers_differ(a: Signature, b: Signature) -> bool:
    """Whether the two bodies are other issues of one text: a line both have reads with other
    numbers in each, or each names a year, a day or a term number (第3期) the other does not
    (a copy may leave some out, never add its own)."""
    facts_a = {line for line in a.lines if line[0] == 0}
    facts_b = {line for line in b.lines if line[0] == 0}
    if facts_a - facts_b and facts_b - facts_a:
        return True
    numbers_a = defaultdict(set)
    for masked, numbers in a.lines - facts_a:
        numbers_a[masked].add(numbers)
    return any(
        masked in numbers_a and numbers not in numbers_a[masked]
        for masked, numbers in b.lines - a.lines - facts_b
    )


def same_notice(a: Signature, b: Signature) -> bool:
    return similarity(a, b) >= SAME and not numbers_differ(a, b)


# --- Groups in the database ---------------------------------------------------------------


class Member(NamedTuple):
    id: int
    date: Any
    group: int | None
    signature: bytes | None


class Groups:
    """Grouping over a notice model and its band model: the app's (the importer, Notice.save(),
    deletions) or a migration's historical ones (0018 fills existing rows with it)."""

    def __init__(self, notice_model: Any = None, band_model: Any = None, using: str = "default"):
        if notice_model is None:
            from notices.models import Notice, NoticeBand

            notice_model, band_model = Notice, NoticeBand
        self.notices = notice_model.objects.using(using)
        self.bands = band_model.objects.using(using)
        self.band_model = band_model
        self.using = using
        self.candidate_pairs = 0  # (notice, notice sharing a band) seen: bench/grouping.py
        # Keys found shared by KEY_ROWS notices (boilerplate, or a group of many copies), each
        # with its first notice: not read again, and that notice their one candidate.
        self.full: dict[int, int] = {}
        self.signatures: dict[int, bytes] = {}  # _signatures()

    def _members(self, ids: Iterable[int]) -> dict[int, Member]:
        rows = self.notices.filter(id__in=list(ids)).values_list("id", "date", "group", "signature")
        return {row[0]: Member(*row) for row in rows}

    def place(self, ids: Sequence[int], members: Iterable[Member] | None = None) -> None:
        """Group these notices (their signatures stored, their bands not yet): each joins the
        group of its best match among notices placed before, this batch's earlier ones
        included. `members`: the notices as stored, when the caller has them (the importer
        has just written them: no need to read their signatures back)."""
        if members is None:
            placing = self._members(ids)
        else:
            placing = {member.id: member for member in members}
        order = [i for i in ids if i in placing]
        keys = {i: band_keys(placing[i].signature) for i in order if placing[i].signature}
        # The notices placed before, read before this batch's bands are in (most keys are of
        # no other notice: nothing to read); this batch's earlier notices are added here.
        sharing = self._sharing({key for ks in keys.values() for key in ks} - self.full.keys())
        full = self.full
        rows, candidates, wanted = [], {}, set()
        for i, ks in keys.items():
            counter = Counter()
            for key in ks:
                if key in full:
                    counter[full[key]] += 1  # its first notice stands for it: one compare
                    continue
                earlier = sharing[key]
                counter.update(earlier)
                # A key's first KEY_ROWS rows are all that is ever read: no more are stored.
                if len(earlier) < KEY_ROWS:
                    earlier.append(i)
                    rows.append((i, key))
            self.candidate_pairs += len(counter)
            candidates[i] = [other for other, _ in counter.most_common(MAX_CANDIDATES)]
            wanted.update(candidates[i])
        # In key order: the index on key takes them in one sweep (a quarter cheaper than in
        # notice order at 500,000 rows, measured on SQLite).
        self._insert_bands(sorted(rows, key=_KEY))
        signatures = self._signatures(
            wanted - placing.keys(), {i: bytes(placing[i].signature) for i in keys}
        )
        matches = {}
        for i in order:
            if i not in keys:
                continue
            stored = signatures[i]
            mine, mine_bins = None, _bins(stored)
            best, best_score = None, SAME
            for other in candidates[i]:
                theirs = signatures.get(other)
                if not theirs:
                    continue
                score = _agreement(mine_bins, _bins(theirs))
                # Most candidates share boilerplate only: their lines are never read.
                if score < best_score:
                    continue
                mine = mine or unpack(stored)
                if not numbers_differ(mine, unpack(theirs)):
                    best, best_score = other, score
            if best is not None:
                matches[i] = best
        # Dates and groups only of the notices matched (few: most candidates are not).
        known = self._members(set(matches.values()) - placing.keys()) | placing
        groups: dict[int, int | None] = {i: m.group for i, m in known.items()}
        joined: dict[int, int] = {}  # notice -> its group's key (a member's id)
        for i, best in matches.items():
            groups[i] = groups[best] = joined[i] = joined[best] = groups[best] or best
        self._store(joined, known)

    def _signatures(self, ids: set[int], placing: dict[int, bytes]) -> dict[int, bytes]:
        """The stored signatures of these notices and of those `placing`, through a cache of
        SIGNATURES_KEPT: a boilerplate key's first notice is a candidate for every newcomer
        of its template, and a batch's notices for the next batch's of their site."""
        kept = self.signatures
        missing = sorted(ids - kept.keys())
        table = connections[self.using].ops.quote_name(self.notices.model._meta.db_table)
        postgres = connections[self.using].vendor == "postgresql"
        # One parameter: psycopg splits a query of thousands of %s in Python.
        sql = f"SELECT id, signature FROM {table} WHERE id " + (
            "= ANY(%s)" if postgres else "IN (SELECT value FROM json_each(%s))"
        )
        with connections[self.using].cursor() as cursor:
            for start in range(0, len(missing), 5000):
                chunk = missing[start : start + 5000]
                cursor.execute(sql, [chunk if postgres else json.dumps(chunk)])
                kept.update((row_id, bytes(stored)) for row_id, stored in cursor.fetchall())
        found = {row_id: kept[row_id] for row_id in ids if row_id in kept} | placing
        kept.update(placing)
        for row_id in list(itertools.islice(kept, max(len(kept) - SIGNATURES_KEPT, 0))):
            del kept[row_id]  # the oldest read first
        return found

    def _insert_bands(self, rows: list[tuple[int, int]]) -> None:
        """INSERT (notice, key) rows directly: an instance per row cost more than its insert."""
        if not rows:
            return
        table = self.band_model._meta.db_table
        if connections[self.using].vendor == "postgresql":
            # executemany() quoted every row on the client: the import's largest statement
            # on PostgreSQL (2-3 s per 3,000 notices) before COPY.
            rows_module.copy_rows(table, ("notice_id", "key"), rows, using=self.using)
            return
        quote = connections[self.using].ops.quote_name
        sql = f"INSERT INTO {quote(table)} (notice_id, key) VALUES (%s, %s)"
        with connections[self.using].cursor() as cursor:
            cursor.executemany(sql, rows)

    def _sharing(self, keys: set[int]) -> dict[int, list[int]]:
        """The notices each of these band keys belongs to: at most KEY_ROWS a key, however many
        share it. Keys of boilerplate (各学院、各部门…) are shared by ever more notices of one
        template as the archive grows: counting all of them made grouping grow with N. The
        rows come in the index's order (on SQLite, oldest first: a big group's first members)."""
        table = connections[self.using].ops.quote_name(self.band_model._meta.db_table)
        postgres = connections[self.using].vendor == "postgresql"
        if postgres:
            sql = (
                "SELECT wanted.key, rows.notice_id FROM unnest(%s::bigint[]) AS wanted(key) "
                f"CROSS JOIN LATERAL (SELECT notice_id FROM {table} WHERE key = wanted.key "
                f"LIMIT {KEY_ROWS}) AS rows"
            )
        else:
            # SQLite has no LATERAL: a correlated IN reads each key's first rows off the index.
            sql = (
                f"SELECT wanted.value, rows.notice_id FROM json_each(%s) AS wanted "
                f"JOIN {table} AS rows ON rows.id IN (SELECT id FROM {table} "
                f"WHERE key = wanted.value LIMIT {KEY_ROWS})"
            )
        found: dict[int, list[int]] = defaultdict(list)
        ordered = sorted(keys)
        with connections[self.using].cursor() as cursor:
            for start in range(0, len(ordered), 5000):
                chunk = ordered[start : start + 5000]
                cursor.execute(sql, [chunk if postgres else json.dumps(chunk)])
                for key, notice_id in cursor.fetchall():
                    found[key].append(notice_id)
        for key, notices in found.items():
            if len(notices) >= KEY_ROWS:
                self.full[key] = notices[0]
        return found

    def _store(self, joined: dict[int, int], known: dict[int, Member]) -> None:
        """Write the groups notices joined ({notice: the group's key, a member's id}): each
        with the members stored before, the earliest (date, id) the lead, in one UPDATE."""
        if not joined:
            return
        members: dict[int, dict[int, Any]] = defaultdict(dict)
        stored = self.notices.filter(group__in=set(joined.values()))
        for row_id, group, date in stored.values_list("id", "group", "date"):
            members[joined.get(row_id, group)][row_id] = date
        for row_id, group in joined.items():
            members[group][row_id] = known[row_id].date
        rows = []
        for dates in members.values():
            lead = min(dates, key=lambda row_id: (dates[row_id], row_id))
            rows += [(lead, len(dates), row_id) for row_id in dates]
        # Not bulk_update(): its CASE per row cost more than the rest of grouping.
        quote = connections[self.using].ops.quote_name
        table = quote(self.notices.model._meta.db_table)
        sql = f"UPDATE {table} SET {quote('group')} = %s, group_size = %s WHERE id = %s"
        with connections[self.using].cursor() as cursor:
            cursor.executemany(sql, rows)

    def remove(self, ids: Iterable[int]) -> list[int]:
        """Take these notices out of their groups (deleted, or about to be placed again) and
        regroup the rest of each; returns the ids taken out."""
        ids = set(ids)
        # A full key may have lost its first notice or be full no more; a signature changed.
        self.full.clear()
        self.signatures.clear()
        leads = set(
            self.notices.filter(id__in=ids, group__isnull=False).values_list("group", flat=True)
        )
        self.bands.filter(notice_id__in=ids).delete()
        self.notices.filter(id__in=ids).update(group=None, group_size=1)
        if leads:
            rest = list(
                self.notices.filter(group__in=leads)
                .exclude(id__in=ids)
                .order_by("date", "id")
                .values_list("id", flat=True)
            )
            self.notices.filter(id__in=rest).update(group=None, group_size=1)
            self.bands.filter(notice_id__in=rest).delete()
            self.place(rest)
        return sorted(ids)

    def regroup(self, ids: Sequence[int]) -> None:
        """Place these notices again, after their bodies or dates changed."""
        self.remove(ids)
        self.place(
            list(
                self.notices.filter(id__in=list(ids))
                .order_by("date", "id")
                .values_list("id", flat=True)
            )
        )


SHOWN = 50  # other sources listed on a notice's page and in its JSON


def other_copies(notice: Any) -> list[Any]:
    """The other notices of `notice`'s group, earliest first (the page's 也发布于)."""
    if notice.group is None:
        return []
    rows = type(notice).objects.filter(group=notice.group).exclude(id=notice.id)
    fields = ("id", "urlname", "title", "site", "domain", "date", "source_url", "group")
    return list(rows.order_by("date", "id").only(*fields)[:SHOWN])
