"""Full-text search that finds Chinese words inside sentences, the same on SQLite and PostgreSQL.

How it works (issue 4):

- Text is normalised: NFKC (full-width -> half-width), casefold, and Traditional -> Simplified
  Chinese one character at a time with a table built from OpenCC. Character by character, not
  phrase by phrase, so a word normalises the same way inside a query as inside a notice.
- What is kept is the runs of letters and digits ("words": Chinese runs, Latin words, numbers),
  joined by one space: `search_text()`. Punctuation and spacing between runs do not matter.
- Each run is indexed as overlapping two-character tokens plus its last character alone
  (疫情防控 -> 疫情 情防 防控 控), so any substring of two or more characters is a phrase of
  tokens, and a single character is a prefix of a token. The lone last character also keeps a
  phrase from running over from one run into the next.
- Every notice has a `sort_key` that orders by date then id. On SQLite it is the FTS5 rowid, so
  "newest first" walks the index backwards and stops after one page, whatever the number of
  matches; on PostgreSQL it has a b-tree index.
- SQLite: an FTS5 table of titles and bodies, and a small one of titles alone (for "title
  matches first"), both with the ascii tokenizer (the tokens are already split and folded) and
  without stored content. Deleting from such a table needs the tokens it was given, so the
  normalised text is kept in `SearchDocument`, and the FTS rows are deleted from it whenever
  that row goes (with its notice: `unindex()`, from counts.delete_notices()).
- PostgreSQL (issue 13): `SearchDocument.vector`, a tsvector (GIN index) of, for each position
  of a run, the four characters starting there (fewer at the run's end), plus each character
  alone (疫情防控 -> 疫 情 防 控 疫情防控 情防控 防控); without positions, written as tsvector
  input so no text-search parser splits them again; `title_vector` holds the title's alone.
  A term of one run is then decided by the index without reading a row: one character or
  four are one lexeme, two or three the prefix of the gram starting where they start
  (`'防控':*`, which the GIN index answers from a range of its keys). Longer terms and phrases
  are candidates when their covering 4-grams are there, and a LIKE on the normalised text
  checks them. Chosen by measurement (migration 0013): every substring of up to four
  characters, the scheme before, made the 2-3 character terms exact lexemes too but cost some
  2,000 lexemes a notice against 1,000, and writing a notice's vectors into the GIN index took
  twice as long (4.4 -> 2.3 ms a notice, 2,000 notices into the 30,000-notice index,
  `bench/search_bench.py --reuse --index-writes 2000`; in an empty table 7.9 -> 2.8 ms), the
  index and vectors at 30,000 notices 886 -> 462 MB, and searches no dearer: the same shared
  buffers per search (median 1,000-1,120 for each kind, both schemes), p95 30.5-36.2 ->
  24.5-31.8 ms for 1-4 characters and mixed queries (machine shared, load average 2).
  Keeping pairs as lexemes too (1,500 a notice) saved only a quarter of the writes; tsvector
  text is parsed in a third of the time array_to_tsvector() takes a text[]. Not changed by
  measurement: GIN `fastupdate` (off: three times slower writes), a larger
  `gin_pending_list_limit` (the same total once the list is flushed, and searches scan that
  list whole); the vectors are made in Python, which the importer's workers can do beside
  rendering, where SQL would put the work on the database's core. The alternatives before
  that: pairs with positions and phrase tsqueries (`<->`) read every
  candidate's tsvector to check positions, and lose recall past 256 positions per lexeme or
  position 16383; pg_trgm's LIKE index always rechecks each candidate's text (and extracts no
  CJK trigrams in a C-locale database); RUM is not packaged here. No ts_rank, which reads
  every match's tsvector, so matches rank by their groups (as typed, in the title), then
  newest first. A notice whose grams exceed a tsvector's 1 MB keeps its characters and a
  marker lexeme, and its matches are checked with LIKE (`_PG_PARTIAL`). Rows are kept narrow
  (texts and vectors out of line) because PostgreSQL 15 reads each matching heap page to
  count, and pages of matches are taken from the GIN bitmaps, never by reading rows'
  tsvectors (`_index_page`).

Folding finds 個小 in notices that say 个小, but ranks them as equals; a reader typing
Traditional characters wants the notices written that way (issue 12). So a query typed in a
script folding changes keeps its typed form (`Term.typed`), and the matches holding it in their
original title, then body, come first. Recall is the index's: the typed form only orders. On
PostgreSQL the vector also holds each Traditional character of the notice's visible text
(never a gram, which is folded), so only the notices having every such character of the query
have their text compared (and none when no match has them): ordering thousands of matches
read every body (p95 884 ms at 30,000 notices, now 34 ms, bench/search_bench.py "trad.");
a notice whose source holds the typed form only in markup (an image's alt) is then not
ranked as typed.

A query is words separated by spaces (all must match), "quoted phrases" (spaces inside count as
separators, like punctuation) and -exclusions. Nothing the user types reaches MATCH or tsquery
as syntax: every term is rebuilt from its normalised runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import json
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Substr
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from notices.caching import archive_facts, cached, cached_with_request
from notices.models import Notice, SearchDocument, TaggedNotice, prefetch_categories
from notices.rendering import plain_text
from notices.rows import copy_rows

FTS_TABLE = "notices_search_fts"
# Titles alone as well: "title matches first" then reads a small index, not every body's.
TITLE_FTS_TABLE = "notices_search_title_fts"
DOCUMENT_TABLE = SearchDocument._meta.db_table
NOTICE_TABLE = Notice._meta.db_table

# Long queries are cut: nobody types more, and each term is one more phrase to match.
MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
# Up to this many matches are ordered by BM25 (title matches first). Past it, title matches
# come first and then the rest, each newest first: a word found in thousands of notices says
# little about which one is meant, and scoring them all costs hundreds of milliseconds.
RANK_LIMIT = 1000
# A query typed in Traditional script puts matches holding it as typed first; with more matches
# than this, only their titles are compared (bodies cost ~0.1 s per 1,000 on PostgreSQL).
EXACT_BODY_LIMIT = 5000
# bm25 column weights (title, body) on SQLite; PostgreSQL uses weights A/B in the tsvector.
TITLE_WEIGHT, BODY_WEIGHT = 10.0, 1.0
SORTS = ("relevance", "newest", "oldest")

_WORD_RUN = re.compile(r"[^\W_]+")
# In fts_tokens(): a pair " x" (a run's first character after a space) between the spaces.
_RUN_START_PAIR = re.compile("   [^ ] ")
_UTF32_SPACE = array("I", " ".encode("utf-32-le"))  # "I" is 4 bytes wherever CPython runs
# The separators between runs as the index sees them: anything that is not a letter or digit.
_SEPARATOR = r"[\W_]+"
# Chinese quotation marks typed by an input method work like ASCII quotes.
_QUOTES = str.maketrans({"“": '"', "”": '"', "「": '"', "」": '"', "『": '"', "』": '"'})
_QUERY_PART = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
# CJK blocks whose characters can have a Simplified form (BMP, extension A, B-G, compatibility).
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))
# PostgreSQL: the lexemes of a notice's tsvector are its characters and, at each position of
# a run, the next this many characters (fewer at the run's end).
_PG_GRAM = 4
# A tsvector holds at most 1 MB of lexemes. A notice whose grams do not fit (some 35,000
# characters and more) is indexed by its characters alone and this lexeme (not a letter or
# digit, so never a gram); its matches are then checked with LIKE.
_PG_PARTIAL = "~partial"
_PG_MAX_LEXEME_BYTES = 1_000_000
# Each character is a lexeme and starts one gram of at most _PG_GRAM characters of 4 bytes.
_PG_MAX_BYTES_PER_CHAR = 4 * (_PG_GRAM + 1)
# sort_key = seconds (offset to stay positive) << 27 | id: fits a signed 64-bit integer.
_ID_BITS = 27
_ID_MASK = 2**_ID_BITS - 1
_SECONDS_OFFSET = 2**34


# --- Normalising and tokenising ------------------------------------------------------------


@functools.cache
def _t2s_table() -> dict[int, str]:
    import opencc

    converter = opencc.OpenCC("t2s")
    table: dict[int, str] = {}
    for start, end in _CJK_RANGES:
        chars = [chr(code) for code in range(start, end + 1)]
        # One call per block; a line per character keeps the conversion character-level.
        converted = converter.convert("\n".join(chars)).split("\n")
        if len(converted) != len(chars):
            converted = [converter.convert(char) for char in chars]
        for char, simple in zip(chars, converted, strict=True):
            if simple != char and len(simple) == 1:
                table[ord(char)] = simple
    return table


@functools.cache
def _fold_table() -> dict[int, str]:
    """Traditional -> Simplified, and full-width ASCII forms (，：；（）...) to what NFKC makes
    of them: one translate() then usually leaves the text NFKC-normal already."""
    table: dict[int, str] = dict(_t2s_table())
    for code in [*range(0xFF01, 0xFF5F), 0x3000]:
        table[code] = unicodedata.normalize("NFKC", chr(code))
    return table


@functools.cache
def _foldable() -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]]:
    """The characters folding may change, as a pattern, and each one's replacement.

    A few in a hundred characters of a notice fold (its full-width ，：（）, a Traditional
    character now and then): finding them with a character class, which the regex engine
    tests against a bitmap, took a third to a twentieth of the time of translate() of every
    character (issue 13). Only classes within the Basic Multilingual Plane get a bitmap, so
    a character beyond it (CJK extensions B-G, emoji: rare) is matched by one range and
    looked up."""
    table = {chr(code): value for code, value in _fold_table().items()}
    codes = sorted(code for code in _fold_table() if code <= 0xFFFF)
    ranges = []  # consecutive code points as a-b: a shorter pattern, the same class
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    bmp = "".join(
        re.escape(chr(start)) + ("-" + re.escape(chr(end)) if end > start else "")
        for start, end in ranges
    )
    pattern = re.compile(f"[{bmp}]|[\U00010000-\U0010ffff]")
    return pattern, lambda match: table.get(match.group(), match.group())


def _fold(text: str) -> str:
    pattern, replacement = _foldable()
    return pattern.sub(replacement, text)


def normalise(text: str) -> str:
    """Text as search compares it: NFKC, casefolded, Simplified Chinese."""
    text = _fold(text)
    if not unicodedata.is_normalized("NFKC", text):
        text = _fold(unicodedata.normalize("NFKC", text))
    return text.casefold()


def word_runs(text: str) -> list[str]:
    """The runs of letters and digits of normalised `text`."""
    return _WORD_RUN.findall(normalise(text))


def typed_runs(text: str) -> list[str]:
    """The runs of `text` as typed: NFKC and casefolded like word_runs(), but in the script it
    was written in (個小 stays 個小)."""
    return _WORD_RUN.findall(unicodedata.normalize("NFKC", text).casefold())


def search_text(text: str) -> str:
    """What is indexed for `text`: its normalised runs joined by single spaces."""
    return " ".join(word_runs(text))


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_tokens(normalised: str) -> list[str]:
    """Tokens of a `search_text()`: each run's overlapping pairs, then its last character."""
    return fts_tokens(normalised).split()


def fts_tokens(normalised: str) -> str:
    """index_tokens() joined by spaces, as the FTS5 table takes them."""
    # Each character, the next one (or a space) and a space: "ab c" -> "ab b   c c  ". A pair
    # ending in a space is a run's last character already; the ones starting with a space
    # (three spaces, a character, a space) go. Copied as 4-byte code points by array slices,
    # a fifth of the time of a string per pair and a tenth of a lookahead regex (issue 13).
    length = len(normalised)
    codes = array("I", (normalised + " ").encode("utf-32-le"))
    pairs = _UTF32_SPACE * (3 * length)
    pairs[0::3] = codes[:length]
    pairs[1::3] = codes[1:]
    return _RUN_START_PAIR.sub(" ", pairs.tobytes().decode("utf-32-le"))


def notice_texts(notice: Notice) -> tuple[str, str]:
    """The original (title, body) text a notice is searched and highlighted in: the body's
    visible text, then the names of its attachments that the text does not already hold
    (a name taken from the address, 附件.pdf, issue 15)."""
    body = plain_text(notice.body_html)
    names = [
        item["name"]
        for item in getattr(notice, "attachments", None) or ()
        if isinstance(item, dict) and item.get("name") and item["name"] not in body
    ]
    return notice.title, " ".join([body, *dict.fromkeys(names)]) if names else body


def sort_key(date: dt.datetime, notice_id: int) -> int:
    """An integer that orders notices by date, then id (the FTS5 rowid on SQLite)."""
    seconds = min(max(int(date.timestamp()) + _SECONDS_OFFSET, 0), 2 * _SECONDS_OFFSET - 1)
    return seconds << _ID_BITS | (notice_id & _ID_MASK)


# --- Queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    runs: tuple[str, ...]
    excluded: bool = False
    # The runs in the script they were typed in; () when that is `runs`. Not part of equality:
    # 個小 and 个小 find the same notices, the typed form only ranks them (exact_q()).
    typed: tuple[str, ...] = field(default=(), compare=False)

    @property
    def tokens(self) -> list[str]:
        """Index tokens that must follow each other (the last may be a prefix)."""
        tokens: list[str] = []
        for i, run in enumerate(self.runs):
            tokens += _bigrams(run)
            if i < len(self.runs) - 1 or len(run) == 1:
                tokens.append(run[-1])
        return tokens

    @property
    def prefix_last(self) -> bool:
        # A one-character last run can be the start of a longer run in the text.
        return len(self.runs[-1]) == 1

    @property
    def text(self) -> str:
        return " ".join(self.runs)

    def fts5(self) -> str:
        phrase = '"' + " ".join(self.tokens).replace('"', '""') + '"'
        return phrase + " *" if self.prefix_last else phrase

    def tsquery(self, *, partial: bool = False) -> str:
        """PostgreSQL lexemes a notice holding this term has: a run of one or _PG_GRAM
        characters is one, a run of two or three the prefix of one (the gram starting where
        it starts), a longer run the grams that cover it. With `partial`, notices indexed by
        their characters alone (_PG_PARTIAL) are candidates too."""
        lexemes: list[str] = []
        for run in self.runs:
            if len(run) == 1 or len(run) == _PG_GRAM:
                lexemes.append(_pg_quoted(run))
            elif len(run) < _PG_GRAM:
                lexemes.append(_pg_quoted(run) + ":*")
            else:
                starts = [*range(0, len(run) - _PG_GRAM, _PG_GRAM), len(run) - _PG_GRAM]
                lexemes += [_pg_quoted(run[start : start + _PG_GRAM]) for start in starts]
        exact = " & ".join(dict.fromkeys(lexemes))
        if not partial or self.decided_for_partial:
            return exact
        characters = dict.fromkeys(char for run in self.runs for char in run)
        loose = " & ".join(_pg_quoted(char) for char in characters)
        return f"({exact}) | ({_pg_quoted(_PG_PARTIAL)} & {loose})"

    @property
    def decided_by_tsquery(self) -> bool:
        """One run of up to _PG_GRAM characters is one lexeme, or a prefix of one: no order
        to check."""
        return len(self.runs) == 1 and len(self.runs[0]) <= _PG_GRAM

    @property
    def decided_for_partial(self) -> bool:
        """One character: a lexeme that notices indexed by characters alone have too."""
        return len(self.runs) == 1 and len(self.runs[0]) == 1

    def like_pattern(self) -> str:
        # Runs hold letters and digits only, so there is nothing to escape for LIKE.
        return f"%{self.text}%"

    def pattern(self) -> str:
        """A regex over normalised text matching what this term matches in the index."""
        return _SEPARATOR.join(re.escape(run) for run in self.runs)

    def exact_q(self, column: str) -> Q:
        """Notices whose original `column` holds the term as typed (each run, in its script);
        case still folded, as the index folds it."""
        condition = Q()
        for run in self.typed or self.runs:
            # A run without case (Chinese, digits) needs no UPPER() of a whole body.
            lookup = "contains" if run == run.upper() else "icontains"
            condition &= Q(**{f"{column}__{lookup}": run})
        return condition


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[Term, ...] = ()
    text: str = ""

    @property
    def included(self) -> list[Term]:
        return [term for term in self.terms if not term.excluded]

    @property
    def excluded(self) -> list[Term]:
        return [term for term in self.terms if term.excluded]

    def __bool__(self) -> bool:
        return bool(self.included)

    @property
    def folds(self) -> bool:
        """Whether a term was typed in a script folding changes (Traditional characters)."""
        return any(term.typed for term in self.included)


def parse_query(text: str) -> ParsedQuery:
    """Terms of a user's query: words (AND), "phrases", -exclusions. Never raises."""
    text = unicodedata.normalize("NFKC", (text or "")[:MAX_QUERY_LENGTH]).translate(_QUOTES)
    terms: list[Term] = []
    for match in _QUERY_PART.finditer(text):
        minus_quoted, quoted, minus_word, word = match.groups()
        written = quoted if quoted is not None else word
        runs = tuple(word_runs(written))
        if not runs:
            continue
        typed = tuple(typed_runs(written))
        # Only a same-shaped typed form can be compared run by run (folding keeps lengths).
        differs = typed != runs and [len(run) for run in typed] == [len(run) for run in runs]
        term = Term(runs, excluded=bool(minus_quoted or minus_word), typed=typed if differs else ())
        if term not in terms:
            terms.append(term)
    return ParsedQuery(tuple(terms[:MAX_TERMS]), text.strip())


# --- The two backends: the same questions, asked of FTS5 or of a tsvector ------------------


class _Backend:
    """Everything that differs between SQLite and PostgreSQL, and `_backend()` the one place
    that tells them apart.

    Writing: `index_text()` makes what the index takes of a notice, `write()` stores rows,
    `delete_rows()` / `forget_rows()` remove them, `clear()`, `tidy()` (after a rebuild) and
    `analyze()` (after a bulk import) keep the index fit. Asking: `keys_sql()` selects the
    sort keys of matches, in a form that takes `ORDER BY <key>` and LIMIT; `ids_sql()` their
    notice ids; `where()` and `score()` rank the matches of `table`."""

    table: str
    key: str
    # Planner methods switched off to count matches, to take a page of them, and to order
    # them as typed (_planner_without).
    count_plans_off: tuple[str, ...] = ()
    page_plans_off: tuple[str, ...] = ()
    exact_plans_off: tuple[str, ...] = ()

    # --- writing ---

    def index_text(self, notice: Notice) -> IndexText:
        """What the index takes of a notice's title and body_html."""
        raise NotImplementedError

    def write(self, rows: Sequence[tuple[int, int, IndexText]]) -> None:
        """Add, or replace, the index rows of (notice_id, sort_key, index_text()), in the
        caller's transaction."""
        raise NotImplementedError

    def delete_rows(self, rows: QuerySet[SearchDocument]) -> int:
        """Delete these SearchDocument rows and whatever else indexes them, in a few
        statements and without signals; return how many rows went."""
        return rows._raw_delete(rows.db)

    def forget_rows(self, documents: Iterable[tuple[int, str, str]]) -> None:
        """Whatever else indexed SearchDocument rows already deleted, given as (sort_key,
        title, body) as they were indexed."""

    def clear(self) -> None:
        raise NotImplementedError

    def tidy(self) -> None:
        """After a rebuild: the index in its quickest shape to read."""

    def analyze(self) -> None:
        """After a bulk import: fresh planner statistics (see analyze_tables())."""

    # --- asking ---

    def keys_sql(self, query: ParsedQuery, part: str = "all") -> tuple[str, list]:
        """Keys of matches of `query`; part "title" keeps those whose title holds every
        included term, part "body" the others."""
        raise NotImplementedError

    def where(self, query: ParsedQuery) -> tuple[str, list]:
        """A condition on `table` that holds for the matches of `query`."""
        raise NotImplementedError

    def score(self, query: ParsedQuery) -> tuple[str, list, float]:
        """A relevance expression, its parameters, and its sign (1: lower is better)."""
        raise NotImplementedError

    def ids_sql(self, query: ParsedQuery, part: str = "all") -> tuple[str, list]:
        """Notice ids of the matches of keys_sql(query, part)."""
        keys, params = self.keys_sql(query, part)
        return f"SELECT notice_id FROM {DOCUMENT_TABLE} WHERE sort_key IN ({keys})", params

    def match_ids(self, query: ParsedQuery, request: HttpRequest | None = None) -> list[int]:
        """The notice ids of every match, from the index alone (no notice row is read)."""
        # Planned as a count: a sequential scan unpacked every tsvector (PostgreSQL).
        return [row[0] for row in _fetch_without(self.count_plans_off, *self.ids_sql(query))]

    def exact_candidates(self, query: ParsedQuery) -> Q:
        """Notices that may hold every included term as typed (Term.exact_q() decides): a
        condition cheaper than reading their text, or none."""
        return Q()

    def listed_sql(self, ids: list[int]) -> tuple[str, list]:
        """A subquery of these ids, sent as one parameter (see matched_ids_sql())."""
        raise NotImplementedError

    def grouped_sql(self, query: ParsedQuery) -> tuple[str, list]:
        """(group, sort key, id) of the matches that are in a group of near-duplicates."""
        ids, params = self.ids_sql(query)
        return (
            f'SELECT notice."group", document.sort_key, notice.id FROM {NOTICE_TABLE} AS notice '
            f"JOIN {DOCUMENT_TABLE} AS document ON document.notice_id = notice.id "
            f'WHERE notice."group" IS NOT NULL AND notice.id IN ({ids})',
            params,
        )


class _SQLite(_Backend):
    table = FTS_TABLE
    key = "rowid"

    def listed_sql(self, ids: list[int]) -> tuple[str, list]:
        return "SELECT value FROM json_each(%s)", [json.dumps(ids)]

    def match_ids(self, query: ParsedQuery, request: HttpRequest | None = None) -> list[int]:
        if not _ids_fit_keys(request):
            return super().match_ids(query, request)
        # The id is the key's low bits: looking each key up in SearchDocument read its row
        # (title and body inline), 4.4 of 5 ms for 1,800 matches at 10,000 notices.
        return [key & _ID_MASK for (key,) in _fetch(*self.keys_sql(query))]

    def grouped_sql(self, query: ParsedQuery) -> tuple[str, list]:
        # The grouped notices' keys made from the index (sort_key() in SQL), matched against
        # the FTS rowids: SQLite otherwise looked each match's row up for `group` (after the
        # body), or each key's notice id up. For 通 (17,000 matches, 9,700 grouped, 18,500
        # notices): 124 ms that way, 63 ms by notice id, 35 ms by key (and no date to parse).
        keys, params = self.keys_sql(query)
        key = (
            f"((CAST(strftime('%%s', date) AS INTEGER) + {_SECONDS_OFFSET}) << {_ID_BITS})"
            f" | (id & {_ID_MASK})"
        )
        sql = (
            f'SELECT "group", {key} AS sort_key, id FROM {NOTICE_TABLE} '
            f'INDEXED BY notice_group_order WHERE "group" IS NOT NULL AND sort_key IN ({keys})'
        )
        return sql, params

    def index_text(self, notice: Notice) -> IndexText:
        title, body = map(search_text, notice_texts(notice))
        return IndexText(title, body, fts=(fts_tokens(title), fts_tokens(body)))

    def write(self, rows: Sequence[tuple[int, int, IndexText]]) -> None:
        ids = [notice_id for notice_id, _, _ in rows]
        old: list[tuple[int, str, str]] = []
        with connection.cursor() as cursor:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                cursor.execute(
                    f"SELECT sort_key, title, body FROM {DOCUMENT_TABLE} "
                    f"WHERE notice_id IN ({', '.join(['%s'] * len(chunk))})",
                    chunk,
                )
                old += cursor.fetchall()
            _write_fts_rows(old, delete=True)
            cursor.executemany(
                f"INSERT OR REPLACE INTO {DOCUMENT_TABLE} (notice_id, sort_key, title, body) "
                "VALUES (%s, %s, %s, %s)",
                [(notice_id, key, text.title, text.body) for notice_id, key, text in rows],
            )
        _write_fts_rows((key, text.title, text.body, text.fts) for _, key, text in rows)

    def delete_rows(self, rows: QuerySet[SearchDocument]) -> int:
        # A contentless FTS5 row can only be deleted with the tokens it was indexed with.
        self.forget_rows(list(rows.values_list("sort_key", "title", "body")))
        return super().delete_rows(rows)

    def forget_rows(self, documents: Iterable[tuple[int, str, str]]) -> None:
        _write_fts_rows(documents, delete=True)

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {DOCUMENT_TABLE}")
            # A contentless table cannot DELETE; 'delete-all' empties it.
            for table in (FTS_TABLE, TITLE_FTS_TABLE):
                cursor.execute(f"INSERT INTO {table}({table}) VALUES ('delete-all')")

    def tidy(self) -> None:
        with connection.cursor() as cursor:
            for table in (FTS_TABLE, TITLE_FTS_TABLE):
                cursor.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")

    @staticmethod
    def included(query: ParsedQuery) -> str:
        return " AND ".join(term.fts5() for term in query.included)

    def expression(self, query: ParsedQuery) -> str:
        excluded = "".join(f" NOT {term.fts5()}" for term in query.excluded)
        return f"({self.included(query)}){excluded}"

    def where(self, query: ParsedQuery) -> tuple[str, list]:
        return f"{FTS_TABLE} MATCH %s", [self.expression(query)]

    def keys_sql(self, query: ParsedQuery, part: str = "all") -> tuple[str, list]:
        matches = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        if part == "all":
            return matches, [self.expression(query)]
        in_title = f"SELECT rowid FROM {TITLE_FTS_TABLE} WHERE {TITLE_FTS_TABLE} MATCH %s"
        if part == "body":
            return f"{matches} AND rowid NOT IN ({in_title})", [
                self.expression(query),
                self.included(query),
            ]
        if not query.excluded:
            return in_title, [self.included(query)]
        excluded = " OR ".join(term.fts5() for term in query.excluded)
        return f"{in_title} AND rowid NOT IN ({matches})", [self.included(query), excluded]

    def score(self, query: ParsedQuery) -> tuple[str, list, float]:
        return f"bm25({FTS_TABLE}, {TITLE_WEIGHT}, {BODY_WEIGHT})", [], 1.0


class _PostgreSQL(_Backend):
    table = DOCUMENT_TABLE
    key = "sort_key"
    # For a common word PostgreSQL picks a sequential scan that unpacks every tsvector
    # (1.1 s for 99,000 of 100,000 notices); the GIN bitmap only visits heap pages (0.14 s).
    count_plans_off = ("enable_seqscan",)
    # Walking sort_key newest first (or every row) checks each row's tsvector, read out of
    # line (0.15-0.7 s when a term is in few titles); the GIN bitmap and a top-N sort cost
    # what the matches' narrow rows cost.
    page_plans_off = ("enable_indexscan", "enable_seqscan")
    # Every match is ordered, and the candidates to hold the query as typed come from the
    # index: a sequential scan unpacked every tsvector (0.45 s of 0.9 s at 10,000 notices).
    exact_plans_off = ("enable_seqscan",)

    def __init__(self, request: HttpRequest | None = None) -> None:
        self.request = request  # what is kept per data version is read through it
        self._partial: list[int] | None = None

    def index_text(self, notice: Notice) -> IndexText:
        original_title, original_body = notice_texts(notice)
        title, body = search_text(original_title), search_text(original_body)
        typed = _pg_typed(original_title, original_body)
        return IndexText(title, body, pg=_pg_vectors(title, body, typed))

    def exact_candidates(self, query: ParsedQuery) -> Q:
        # The Traditional characters of the typed form are lexemes of their own (_pg_typed).
        typed = {char for term in query.included for run in term.typed for char in _pg_typed(run)}
        if not typed:
            return Q()
        tsquery = " & ".join(_pg_quoted(char) for char in sorted(typed))
        return Q(
            id__in=RawSQL(
                f"SELECT notice_id FROM {DOCUMENT_TABLE} WHERE vector @@ %s::tsquery", [tsquery]
            )
        )

    def write(self, rows: Sequence[tuple[int, int, IndexText]]) -> None:
        # Replaced rows go first, then every row is COPYed (notices/rows.py): an upsert per
        # row was quoted into SQL by the client and planned by the server one at a time.
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {DOCUMENT_TABLE} WHERE notice_id = ANY(%s)",
                [[notice_id for notice_id, _, _ in rows]],
            )
        copy_rows(
            DOCUMENT_TABLE,
            ("notice_id", "sort_key", "title", "body", "vector", "title_vector"),
            (
                (
                    notice_id,
                    key,
                    text.title,
                    text.body,
                    *(text.pg or _pg_vectors(text.title, text.body)),
                )
                for notice_id, key, text in rows
            ),
        )

    def clear(self) -> None:
        with connection.cursor() as cursor:
            # TRUNCATE leaves no dead rows behind; pending deferred FK checks must run first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {DOCUMENT_TABLE}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def tidy(self) -> None:
        # Fresh statistics for the planner; and outside a transaction VACUUM too, which moves
        # the GIN indexes' pending entries into the index proper (searches scan the pending
        # list whole).
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{command} {DOCUMENT_TABLE}")

    def analyze(self) -> None:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:  # VACUUM cannot run inside a transaction
                cursor.execute("ANALYZE")
                return
            # The search table too: VACUUM also moves its GIN index's pending entries in.
            for model in (Notice, TaggedNotice, Notice.categories.through, SearchDocument):
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
            cursor.execute("ANALYZE")

    def partial_keys(self) -> list[int]:
        """Keys of the notices indexed by their characters alone: usually none."""
        if self._partial is None:
            # A small table (its rows are narrow) makes a sequential scan look cheap, which
            # unpacks every tsvector: 0.4-0.55 s at 10,000 notices under load, not 1 ms.
            # Kept per data version when the request is known: every search asks this first.
            marker = _pg_quoted(_PG_PARTIAL)

            def compute() -> list[int]:
                sql = f"SELECT sort_key FROM {DOCUMENT_TABLE} WHERE vector @@ %s::tsquery"
                return [row[0] for row in _fetch_without(("enable_seqscan",), sql, [marker])]

            self._partial = cached_with_request("partial-keys", [], compute, self.request)
        return self._partial

    def tsquery(self, query: ParsedQuery) -> str:
        partial = bool(self.partial_keys())
        included = " & ".join(f"({term.tsquery(partial=partial)})" for term in query.included)
        if partial:
            return included
        # Without partial notices a short excluded term is decided by the index too.
        excluded = "".join(
            f" & !({term.tsquery()})" for term in query.excluded if term.decided_by_tsquery
        )
        return included + excluded

    def where(self, query: ParsedQuery) -> tuple[str, list]:
        return self.condition(query, "all")

    def condition(self, query: ParsedQuery, part: str) -> tuple[str, list]:
        """where() for a part of the matches, as keys_sql() takes them."""
        if part == "title":
            return self._title_where(query)
        conditions = ["vector @@ %s::tsquery"]
        params: list = [self.tsquery(query)]
        partial = self.partial_keys()
        for term in query.included:
            if not term.decided_by_tsquery:
                conditions.append("(title LIKE %s OR body LIKE %s)")
                params += [term.like_pattern()] * 2
            elif partial and not term.decided_for_partial:
                conditions.append("(sort_key <> ALL(%s) OR title LIKE %s OR body LIKE %s)")
                params += [partial, *[term.like_pattern()] * 2]
        for term in query.excluded:
            if partial or not term.decided_by_tsquery:
                conditions.append("NOT (title LIKE %s OR body LIKE %s)")
                params += [term.like_pattern()] * 2
        if part == "body":
            # The titles' own index tells the title matches apart, without reading titles.
            in_title, title_params = self._title_where(query, excluded=False)
            titles = f"SELECT sort_key FROM {DOCUMENT_TABLE} WHERE {in_title}"
            conditions.append(f"sort_key NOT IN ({titles})")
            params += title_params
        return " AND ".join(conditions), params

    def _title_where(self, query: ParsedQuery, *, excluded: bool = True) -> tuple[str, list]:
        """Notices whose title holds every included term: their own small GIN index, so a
        term found in many bodies but no title is not a walk through every notice."""
        conditions = ["title_vector @@ %s::tsquery"]
        params: list = [" & ".join(f"({term.tsquery()})" for term in query.included)]
        for term in query.included:
            if not term.decided_by_tsquery:
                conditions.append("title LIKE %s")
                params.append(term.like_pattern())
        partial = self.partial_keys()
        for term in query.excluded if excluded else ():
            if partial or not term.decided_by_tsquery:
                conditions.append("NOT (title LIKE %s OR body LIKE %s)")
                params += [term.like_pattern()] * 2
            else:
                conditions.append("NOT vector @@ %s::tsquery")
                params.append(term.tsquery())
        return " AND ".join(conditions), params

    def keys_sql(self, query: ParsedQuery, part: str = "all") -> tuple[str, list]:
        where, params = self.condition(query, part)
        return f"SELECT sort_key FROM {DOCUMENT_TABLE} WHERE {where}", params

    def ids_sql(self, query: ParsedQuery, part: str = "all") -> tuple[str, list]:
        where, params = self.condition(query, part)
        return f"SELECT notice_id FROM {DOCUMENT_TABLE} WHERE {where}", params

    def listed_sql(self, ids: list[int]) -> tuple[str, list]:
        return "SELECT unnest(%s::bigint[])", [ids]

    def score(self, query: ParsedQuery) -> tuple[str, list, float]:
        # No ts_rank: it reads each match's tsvector (some 20 KB), which for a few hundred
        # matches costs more than the whole search may. Matches rank by the groups alone
        # (as typed, in the title), then newest first.
        return "0", [], 1.0


def matched_ids_sql(results: SearchResults) -> tuple[str, list]:
    """SQL and its one parameter selecting the ids of a search's matches, found once: a
    search's facets group them in three queries (filters._Listed), and each one found them
    again through the index (a third of a search page's database time at 100,000 notices,
    issue 13). For a bounded number of matches (SEARCH_FACET_LIMIT): the ids go as one
    parameter."""
    return _backend().listed_sql(results.match_ids())


def _backend(request: HttpRequest | None = None) -> _Backend:
    return _PostgreSQL(request) if connection.vendor == "postgresql" else _SQLite()


def _fetch(sql: str, params: Sequence) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextlib.contextmanager
def _planner_without(plans: Sequence[str]) -> Iterator[None]:
    """PostgreSQL planner switches (enable_seqscan ...) off for the queries inside: SET LOCAL
    lasts to the end of the transaction, which may be a caller's, so each is reset after them
    too. Without switches, nothing."""
    if not plans:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        for plan in plans:
            cursor.execute(f"SET LOCAL {plan} = off")
        yield
        for plan in plans:
            cursor.execute(f"RESET {plan}")


def _fetch_without(plans: Sequence[str], sql: str, params: Sequence) -> list[tuple]:
    """_fetch() with these planner switches off for this query alone, in one round trip.

    The switches, the query and their RESETs go as one string (Django binds parameters on
    the client: psycopg sends it as one simple query, run as one implicit transaction when
    none is open, so SET LOCAL holds for the query). A savepoint, each SET and each RESET
    apart were seven round trips for a page of matches, five for a count: 26 queries on a
    search page at 10,000 notices, 14 on SQLite (issue 13)."""
    if not plans:
        return _fetch(sql, params)
    switches = "".join(f"SET LOCAL {plan} = off; " for plan in plans)
    resets = "".join(f"; RESET {plan}" for plan in plans)
    with connection.cursor() as cursor:
        cursor.execute(switches + sql + resets, params)
        for _ in plans:
            cursor.nextset()
        return cursor.fetchall()


def _matching_ids(query: ParsedQuery, backend: _Backend | None = None) -> RawSQL:
    return RawSQL(*(backend or _backend()).ids_sql(query))


def filter_notices(notices: QuerySet[Notice], query: str | ParsedQuery) -> QuerySet[Notice]:
    """`notices` narrowed to those matching `query` (none for a query without words)."""
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    if not parsed:
        return notices.none()
    return notices.filter(id__in=_matching_ids(parsed))


def _ids_fit_keys(request: HttpRequest | None) -> bool:
    """Whether every notice id fits the low bits of a sort_key, so a key gives its notice's
    id (always so below 134 million ids); kept per data version."""

    def compute() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MAX(id) FROM {Notice._meta.db_table}")
            (highest,) = cursor.fetchone()
        return (highest or 0) < 2**_ID_BITS

    return cached("ids-fit-keys", [], compute, request=request)


def _everything_searchable(notices: QuerySet[Notice], request: HttpRequest | None = None) -> bool:
    """Whether `notices` holds every indexed notice, so the index alone counts and pages.
    Published notices are all of them unless one lacks a urlname (unique: one at most)."""
    if not notices.query.has_filters():
        return True
    published = Notice.objects.published()
    return (
        notices.model is Notice
        # The conditions compared as expressions: printing both queries' SQL cost a
        # millisecond of every search (issue 13).
        and notices.query.where == published.query.where
        and not has_unlisted(request)
    )


def has_unlisted(request: HttpRequest | None) -> bool:
    """Whether a notice lacks a urlname: asked by every search, so kept per data version
    when the request (which reads that version once) is known."""
    return archive_facts(request).unlisted


class SearchResults:
    """The matches of a query within `notices`, ordered by `sort`; sliceable like a list, so
    Paginator pages through it. `.notices` is a plain queryset of them, for facets and feeds.

    Without filters on `notices`, counting and paging ask the index alone (no join per match);
    with filters, the matches are joined to the filtered notices. With `one_per_group`, a
    group of near-duplicates (notices/grouping.py) among the matches is one result, its
    earliest matching notice: the others are left out by key (index) and by id (rows).
    """

    def __init__(
        self,
        query: ParsedQuery,
        notices: QuerySet[Notice],
        sort: str = "relevance",
        *,
        tags: bool = True,
        body_prefix: int = 0,
        request: HttpRequest | None = None,
        one_per_group: bool = False,
    ):
        self.query = query
        self.tags = tags  # whether the pages' notices come with their tags
        # Their body_html's first this many characters, as `body_prefix` (snippets): read with
        # the rows, not in a query of their own (issue 13).
        self.body_prefix = body_prefix
        self.sort = sort if sort in SORTS else "relevance"
        self.base = notices
        self.backend = _backend(request)
        self.notices = (
            notices.filter(id__in=_matching_ids(query, self.backend)) if query else notices.none()
        )
        self.request = request
        self.unfiltered = _everything_searchable(notices, request)
        # Every match, copies included: what facets count (as a list's stored counts do).
        self.matches = self.notices
        # The matches that are copies of an earlier match, folded into its result: notice
        # id -> sort key. Left out of every count and page, from the index as from the rows.
        self._folded = self._folded_copies() if one_per_group and query else {}
        self.hidden_copies = len(self._folded)
        # Their keys as one parameter, made once for every index query (_keys_sql).
        self._folded_keys: tuple[str, list] = ("", [])
        if self._folded:
            self._folded_keys = self.backend.listed_sql(list(self._folded.values()))
            folded = RawSQL(*self.backend.listed_sql(list(self._folded)))
            self.notices = self.notices.exclude(id__in=folded)
        self._count: int | None = None
        self._ranked: list[int] | None = None
        self._ranked_done = False

    # --- counting and slicing (what Paginator uses) ---

    def count(self) -> int:
        if self._count is None:
            if not self.query:
                self._count = 0
            elif self.unfiltered:
                self._count = self._index_count("all")
            else:
                self._count = self.notices.count()
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Notice]:
        if not isinstance(index, slice):
            raise TypeError("SearchResults supports slices only.")
        start = index.start or 0
        stop = index.stop if index.stop is not None else self.count()
        if not self.query or stop <= start:
            return []
        page = self._page(start, stop)
        prefetch_categories(page)
        return page

    def _page(self, start: int, stop: int) -> list[Notice]:
        if self.sort != "relevance":
            return self._by_date(start, stop, newest=self.sort == "newest")
        ranked = self._ranked_ids()
        if ranked is not None:
            return self._load(ranked[start:stop])
        if self.query.folds:
            return self._exact_first(start, stop)
        return self._title_first(start, stop)

    def match_ids(self) -> list[int]:
        """Every match's id, copies included: those ranked for the page already when there
        were few enough (RANK_LIMIT) and none was folded, else one query."""
        if self._ranked_done and self._ranked is not None and not self.hidden_copies:
            return list(self._ranked)
        if not self.query:
            return []
        if self.unfiltered:
            # From the index alone: joining the notices read their fat rows (81 ms of a
            # search for a word in 2,500 of 10,000 notices, against 5 ms, issue 13).
            return self.backend.match_ids(self.query, self.request)
        return list(self.matches.order_by().values_list("id", flat=True))

    def _folded_copies(self) -> dict[int, int]:
        """Of the matches in a group of near-duplicates (notices/grouping.py), all but each
        group's earliest by sort key (date to the second, then id: copies dated within one
        second are ordered by id): one query over the grouped matches alone."""
        if self.unfiltered:  # every notice is searchable: the index's ids, no other filter
            rows = _fetch(*self.backend.grouped_sql(self.query))
        else:
            grouped = self.notices.filter(group__isnull=False).order_by()
            rows = [
                (group, sort_key(date, notice_id), notice_id)
                for group, date, notice_id in grouped.values_list("group", "date", "id")
            ]
        earliest: dict[int, int] = {}
        for group, key, _notice_id in rows:
            if key < earliest.get(group, key + 1):
                earliest[group] = key
        return {notice_id: key for group, key, notice_id in rows if key != earliest[group]}

    def _keys_sql(self, part: str) -> tuple[str, list]:
        """keys_sql() of the query, without the folded copies."""
        keys, params = self.backend.keys_sql(self.query, part)
        if not self._folded:
            return keys, params
        listed, listed_params = self._folded_keys
        return f"{keys} AND {self.backend.key} NOT IN ({listed})", [*params, *listed_params]

    # --- orders ---

    def _by_date(self, start: int, stop: int, *, newest: bool) -> list[Notice]:
        if self.unfiltered:
            return self._load(self._index_page("all", start, stop, newest=newest))
        order = ("-date", "-id") if newest else ("date", "id")
        return list(self._rows(self.notices).order_by(*order)[start:stop])

    def _ranked_ids(self) -> list[int] | None:
        """Every match in relevance order, when there are few enough to score them all."""
        if self._ranked_done:
            return self._ranked
        self._ranked_done = True
        if self.count() > RANK_LIMIT:
            return None  # known already: skip scoring the first RANK_LIMIT + 1
        backend = self.backend
        where, params = backend.where(self.query)
        score, score_params, sign = backend.score(self.query)
        # Planned as a count: for a 2-character term PostgreSQL expected 50 rows and took a
        # sequential scan unpacking every tsvector, 180-210 ms at 10,000 notices against a
        # few ms from the GIN bitmap (issue 13).
        rows = _fetch_without(
            backend.count_plans_off,
            f"SELECT {backend.key}, {score} FROM {backend.table} WHERE {where} LIMIT %s",
            [*score_params, *params, RANK_LIMIT + 1],
        )
        if len(rows) > RANK_LIMIT:
            return None
        # From the titles' own index: on PostgreSQL the titles are stored out of line too.
        titles = _fetch_without(backend.count_plans_off, *backend.keys_sql(self.query, "title"))
        in_title = {row[0] for row in titles}
        ids_by_key = self._ids_by_key([row[0] for row in rows])
        exact_title, exact = self._exact_ids(ids_by_key.values())

        def group(key: int) -> tuple[bool, bool, bool]:
            notice_id = ids_by_key.get(key)
            return notice_id not in exact_title, notice_id not in exact, key not in in_title

        # Matches as typed first (title, then body); then title matches, the score, and newer
        # (a larger key) first.
        rows.sort(key=lambda row: (*group(row[0]), sign * row[1], -row[0]))
        ids = [
            ids_by_key[row[0]]
            for row in rows
            if row[0] in ids_by_key and ids_by_key[row[0]] not in self._folded
        ]
        if not self.unfiltered:
            allowed = set(self.notices.filter(id__in=ids).values_list("id", flat=True))
            ids = [notice_id for notice_id in ids if notice_id in allowed]
        self._ranked = ids
        return ids

    def _exact_conditions(self, *, bodies: bool = True) -> tuple[Q, Q]:
        """Notices holding every included term as typed: in the title, and anywhere (the
        title alone without `bodies`). The original text is compared (the index holds folded
        text): the body as written."""
        in_title, anywhere = Q(), Q()
        for term in self.query.included:
            in_title &= term.exact_q("title")
            if bodies:
                anywhere &= term.exact_q("title") | term.exact_q("body")
        return in_title, anywhere if bodies else in_title

    def _may_be_exact(self, candidates: Q) -> bool:
        """Whether a match is among the backend's exact_candidates() (or it has none)."""
        if not candidates:
            return True
        # As for a page: walking an index for the first row met checked every tsvector.
        with _planner_without(self.backend.page_plans_off):
            return self.notices.filter(candidates).exists()

    def _exact_ids(self, ids: Iterable[int]) -> tuple[set[int], set[int]]:
        """Of `ids` (at most RANK_LIMIT + 1), those matching as typed in the title, and at all;
        nothing to look up when no term was typed differently from its folded form."""
        candidates = self.backend.exact_candidates(self.query)
        if not self.query.folds or not self._may_be_exact(candidates):
            return set(), set()
        in_title, anywhere = self._exact_conditions()
        rows = (
            Notice.objects.filter(id__in=list(ids))
            .filter(candidates, anywhere)
            .annotate(exact_title=ExpressionWrapper(in_title, output_field=BooleanField()))
            .values_list("id", "exact_title")
        )
        with _planner_without(self.backend.exact_plans_off):
            exact = dict(rows)
        return {notice_id for notice_id, title in exact.items() if title}, set(exact)

    def _exact_first(self, start: int, stop: int) -> list[Notice]:
        """Many matches of a query typed in Traditional script: those holding it as typed first
        (title, then body; past EXACT_BODY_LIMIT matches titles only), then title matches,
        each group newest first. The database reads the original text of the matches."""
        # The index's candidates first: only their text is read.
        candidates = self.backend.exact_candidates(self.query)
        if not self._may_be_exact(candidates):
            # No match can hold the query as typed: title matches first, from the index.
            return self._title_first(start, stop)
        in_title, anywhere = self._exact_conditions(bodies=self.count() <= EXACT_BODY_LIMIT)
        ranked = self.notices.annotate(
            exact_title=ExpressionWrapper(candidates & in_title, output_field=BooleanField()),
            exact=ExpressionWrapper(candidates & anywhere, output_field=BooleanField()),
            folded_title=ExpressionWrapper(
                Q(id__in=self._part_ids("title")), output_field=BooleanField()
            ),
        ).order_by("-exact_title", "-exact", "-folded_title", "-date", "-id")
        with _planner_without(self.backend.exact_plans_off):
            return list(self._rows(ranked)[start:stop])

    def _title_first(self, start: int, stop: int) -> list[Notice]:
        """Many matches: those with every term in the title first, each group newest first."""
        if self.unfiltered:
            ids = self._index_page("title", start, stop, newest=True)
            if len(ids) == stop - start:
                return self._load(ids)  # a page of title matches: no need to count them
            # The title matches end on this page (or before it): where do the others start?
            known = ids or start == 0
            title_count = start + len(ids) if known else self._index_count("title")
            ids += self._index_page(
                "body", max(start - title_count, 0), stop - title_count, newest=True
            )
            return self._load(ids)
        in_title = self.notices.filter(id__in=self._part_ids("title"))
        title_count = in_title.count()
        newest = ("-date", "-id")
        found: list[Notice] = []
        if start < title_count:
            rows = self._rows(in_title).order_by(*newest)
            found += rows[start : min(stop, title_count)]
        if stop > title_count:
            rest = self.notices.filter(~Q(id__in=self._part_ids("title")))
            found += self._rows(rest).order_by(*newest)[
                max(start - title_count, 0) : stop - title_count
            ]
        return found

    # --- index queries ---

    def _index_count(self, part: str) -> int:
        keys, params = self._keys_sql(part)
        sql = f"SELECT count(*) FROM ({keys}) AS matches"
        return _fetch_without(self.backend.count_plans_off, sql, params)[0][0]

    def _index_page(self, part: str, start: int, stop: int, *, newest: bool) -> list[int]:
        backend = self.backend
        keys, params = self._keys_sql(part)
        direction = "DESC" if newest else "ASC"
        sql = f"{keys} ORDER BY {backend.key} {direction} LIMIT %s OFFSET %s"
        params = [*params, stop - start, start]
        rows = _fetch_without(backend.page_plans_off, sql, params)
        return self._ids_for_keys([row[0] for row in rows])

    def _part_ids(self, part: str) -> RawSQL:
        return RawSQL(*self.backend.ids_sql(self.query, part))

    def _ids_by_key(self, keys: list[int]) -> dict[int, int]:
        if not keys:
            return {}
        if _ids_fit_keys(self.request):
            # A key's low bits are its notice's id (sort_key()): no query (issue 13).
            return {key: key & _ID_MASK for key in keys}
        # Up to RANK_LIMIT keys as one parameter: the ORM's IN of 1,000 placeholders cost
        # more CPU to build than the lookup itself (issue 13).
        listed, params = self.backend.listed_sql(keys)
        sql = f"SELECT sort_key, notice_id FROM {DOCUMENT_TABLE} WHERE sort_key IN ({listed})"
        return dict(_fetch(sql, params))

    def _ids_for_keys(self, keys: list[int]) -> list[int]:
        by_key = self._ids_by_key(keys)
        return [by_key[key] for key in keys if key in by_key]

    def _rows(self, notices: QuerySet[Notice]) -> QuerySet[Notice]:
        """`notices` as a page shows them: with their tags if asked, and `body_prefix`
        (their categories come after, from prefetch_categories())."""
        rows = notices.for_list(tags=self.tags, categories=False)
        if self.body_prefix:
            rows = rows.annotate(body_prefix=Substr("body_html", 1, self.body_prefix))
        return rows

    def _load(self, ids: Sequence[int]) -> list[Notice]:
        # The ids already match: loading through `notices` would run the search again.
        by_id = self._rows(self.base).in_bulk(list(ids))
        return [by_id[notice_id] for notice_id in ids if notice_id in by_id]


def search_notices(
    query: str | ParsedQuery,
    notices: QuerySet[Notice] | None = None,
    *,
    sort: str = "relevance",
    tags: bool = True,
    body_prefix: int = 0,
    request: HttpRequest | None = None,
    one_per_group: bool = False,
) -> SearchResults:
    """Notices matching `query` (within `notices`, default all published), sorted by `sort`;
    without `tags`, the pages' notices come without their tags (the search page's HTML);
    with `body_prefix`, with that many characters of their body_html (its snippets);
    with `one_per_group`, one result per group of near-duplicates. `request`: what is kept
    per data version is read once per request."""
    parsed = query if isinstance(query, ParsedQuery) else parse_query(query)
    if notices is None:
        notices = Notice.objects.published()
    return SearchResults(
        parsed,
        notices,
        sort,
        tags=tags,
        body_prefix=body_prefix,
        request=request,
        one_per_group=one_per_group,
    )


# --- Highlighting (always from the original text, always escaped) ------------------------


def _match_spans(text: str, query: ParsedQuery, limit: int | None = None) -> list[tuple[int, int]]:
    """Spans of `text` (original) where an included term matches, merged and sorted; at most
    `limit` of them (the last one may then be shorter than a merge would make it)."""
    terms = query.included
    if not terms or not text:
        return []
    normalised = normalise(text)
    offsets: list[int] | None = None
    if len(normalised) != len(text):
        # Some character changed length (ligatures, ㈱...): map character by character.
        pieces: list[str] = []
        offsets = []
        for position, char in enumerate(text):
            piece = normalise(char)
            pieces.append(piece)
            offsets += [position] * len(piece)
        offsets.append(len(text))
        normalised = "".join(pieces)
    pattern = re.compile("|".join(f"(?:{term.pattern()})" for term in terms))
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(normalised):
        start, end = match.span()
        if offsets is not None:
            start, end = offsets[start], offsets[end - 1] + 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        elif limit is not None and len(spans) >= limit:
            break
        else:
            spans.append((start, end))
    return spans


def _marked(text: str, spans: Iterable[tuple[int, int]], start: int = 0, end: int = -1) -> str:
    end = len(text) if end < 0 else end
    out, position = [], start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        out.append(html.escape(text[position:span_start]))
        out.append("<mark>" + html.escape(text[span_start:span_end]) + "</mark>")
        position = span_end
    out.append(html.escape(text[position:end]))
    return "".join(out)


def highlight(text: str, query: ParsedQuery) -> SafeString:
    """`text` escaped, with the query's matches in <mark>."""
    return mark_safe(_marked(text, _match_spans(text, query)))


# Where snippet() looks for a first match before normalising a whole text (up to 20,000
# characters of a hit's body): most matches are near the start, and normalising every hit's
# text was a millisecond of a search page's 20 hits (issue 13).
_SNIPPET_WINDOWS = (500, 2000)
# Characters kept clear of a window's end: NFKC may compose a character there with the next.
_WINDOW_MARGIN = 8


def _first_match(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """_match_spans(text, query, limit=1), from a prefix of `text` when that decides it.

    With one run per term a match is as long as its term, so a match in a prefix that starts
    at least the longest term (and a margin) before the prefix's end is the first one of the
    whole text. Only a prefix that normalising keeps at its length counts (its positions are
    then the text's); otherwise, and for phrases, the whole text is looked at."""
    terms = query.included
    if terms and all(len(term.runs) == 1 for term in terms):
        longest = max(len(term.runs[0]) for term in terms) + _WINDOW_MARGIN
        for window in _SNIPPET_WINDOWS:
            if len(text) <= window:
                break
            prefix = text[:window]
            if len(normalise(prefix)) != window:
                break
            first = _match_spans(prefix, query, limit=1)
            if first and first[0][0] + longest <= window:
                return first
    return _match_spans(text, query, limit=1)


def snippet(text: str, query: ParsedQuery, length: int = 160) -> SafeString:
    """About `length` characters of `text` around its first match, escaped, matches marked."""
    first = _first_match(text, query)
    if not first:
        return mark_safe(html.escape(text[:length]) + ("…" if len(text) > length else ""))
    start = max(0, min(first[0][0] - length // 4, len(text) - length))
    end = min(len(text), start + length)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    # Only the shown window is marked: a text full of matches had all of them marked, then cut.
    shown = text[start:end]
    return mark_safe(prefix + _marked(shown, _match_spans(shown, query)) + suffix)


# Sanitised HTML from rendering.py: tags (with quoted attributes) and the text between them.
_TAG = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")


def highlight_html(
    body_html: str,
    query: ParsedQuery,
    *,
    max_marks: int | None = None,
    max_chars: int | None = None,
) -> SafeString:
    """Sanitised body HTML with matches inside text nodes marked; tags are left as they are.

    Only the first `max_chars` characters of HTML and `max_marks` matches are looked at
    (NOTICES_HIGHLIGHT_MAX_*); the rest of the HTML is copied as it is, so a 4.5 MB body
    costs what its first part costs (it took 5-10 s and answered 11.8 MB, issue 11)."""
    if not query:
        return mark_safe(body_html)
    marks_left = settings.NOTICES_HIGHLIGHT_MAX_MARKS if max_marks is None else max_marks
    chars_left = settings.NOTICES_HIGHLIGHT_MAX_CHARS if max_chars is None else max_chars
    out, position = [], 0
    for tag in _TAG.finditer(body_html):
        if marks_left <= 0 or chars_left <= 0:
            break  # `position` is the start of a text node: the rest is copied unchanged
        marked, marks_left, chars_left = _highlight_text_node(
            body_html[position : tag.start()], query, marks_left, chars_left
        )
        out += [marked, tag.group()]
        chars_left -= len(tag.group())  # the window is of the HTML: many tiny nodes count too
        position = tag.end()
    else:
        if marks_left > 0 and chars_left > 0:
            marked, _, _ = _highlight_text_node(body_html[position:], query, marks_left, chars_left)
            out.append(marked)
            position = len(body_html)
    out.append(body_html[position:])
    return mark_safe("".join(out))


def _highlight_text_node(
    raw: str, query: ParsedQuery, marks_left: int, chars_left: int
) -> tuple[str, int, int]:
    """One text node (as it is in the HTML) with at most `marks_left` matches marked within
    its first `chars_left` characters; and what is left of both."""
    if not raw or raw.isspace():
        return raw, marks_left, chars_left
    text = html.unescape(raw)
    looked_at = text[:chars_left]
    spans = _match_spans(looked_at, query, limit=marks_left)
    if not spans and len(looked_at) == len(text):
        return raw, marks_left, chars_left - len(text)
    marked = _marked(looked_at, spans) + html.escape(text[len(looked_at) :])
    return marked, marks_left - len(spans), chars_left - len(looked_at)


# --- Keeping the index up to date -------------------------------------------------------


def _pg_quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _pg_grams(text: str) -> set[str]:
    """The characters of the runs of a `search_text()`, and the _PG_GRAM characters starting
    at each position of a run (fewer at its end): 疫情防控 -> 疫 情 防 控 疫情防控 情防控 防控."""
    grams = set(text)
    grams.discard(" ")
    for run in text.split():
        grams.update([run[start : start + _PG_GRAM] for start in range(len(run) - 1)])
    return grams


def _pg_typed(*texts: str) -> set[str]:
    """The characters of original `texts` that folding changes (Traditional ones). As lexemes
    they never meet a gram, which holds folded text only; a query typed in Traditional script
    reads the text of the notices having its characters alone (_exact_first())."""
    table = _t2s_table()
    return {char for text in texts for char in set(text) if ord(char) in table}


def _pg_vectors(title: str, body: str, typed: Iterable[str] = ()) -> tuple[str, str]:
    """tsvector input for the grams of a notice's normalised title and body (and its `typed`
    characters, _pg_typed()), and for the grams of its title alone.

    Lexemes without positions: matching needs none, and they keep the tsvector small. Grams
    hold letters and digits only, so they need no quoting beyond the quotes around them."""
    in_title = _pg_grams(title)
    grams = in_title | _pg_grams(body)
    if (len(title) + len(body)) * _PG_MAX_BYTES_PER_CHAR > _PG_MAX_LEXEME_BYTES and sum(
        len(gram.encode()) for gram in grams
    ) > _PG_MAX_LEXEME_BYTES:
        grams = {*title, *body, _PG_PARTIAL} - {" "}
    grams.update(typed)
    # A title has at most 500 characters: its grams always fit.
    return _pg_tsvector(grams), _pg_tsvector(in_title)


def _pg_tsvector(lexemes: set[str]) -> str:
    return "'" + "' '".join(lexemes) + "'" if lexemes else ""


def _fts_row(
    key: int, title: str, body: str, tokens: tuple[str, str] | None = None
) -> tuple[int, str, str]:
    return key, *(tokens or (fts_tokens(title), fts_tokens(body)))


def _write_fts_rows(documents: Iterable[tuple], *, delete: bool = False) -> None:
    """Add FTS5 rows for (sort_key, title, body[, their fts_tokens() made ahead]), or delete
    them (given as they were indexed)."""
    # In rowid order: FTS5 writes out its pending terms as a new segment whenever a rowid is
    # lower than the last one written in the transaction, and sort keys follow dates, not
    # the files' order. Unsorted, a batch of 500 generated notices made 240 segments for the
    # merges to rewrite: 0.46-0.56 -> 0.25 ms a notice of CPU for the FTS5 writes (10,000).
    rows = sorted((_fts_row(*document) for document in documents), key=lambda row: row[0])
    if not rows:
        return
    command = "'delete', " if delete else ""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE + ', ' if delete else ''}rowid, title, body) "
            f"VALUES ({command}%s, %s, %s)",
            rows,
        )
        cursor.executemany(
            f"INSERT INTO {TITLE_FTS_TABLE}({TITLE_FTS_TABLE + ', ' if delete else ''}rowid, "
            f"title) VALUES ({command}%s, %s)",
            [row[:2] for row in rows],
        )


class IndexText(NamedTuple):
    """What the index takes of a notice, which a process without the database can make (an
    import's workers, beside the rendering it depends on: issue 13)."""

    title: str  # search_text() of the title
    body: str  # search_text() of the body's visible text
    fts: tuple[str, str] | None = None  # their fts_tokens(), on SQLite
    pg: tuple[str, str] | None = None  # their _pg_vectors(), on PostgreSQL


def index_text(notice: Notice) -> IndexText:
    return _backend().index_text(notice)


def index_notices(notices: Iterable[Notice], made: Mapping[int, IndexText] | None = None) -> int:
    """Index (or index again) saved notices from their title and body_html; return how many.
    `made` holds the index_text() of some of them by id, made ahead from the same body_html."""
    backend = _backend()
    rows = [
        (
            notice.id,
            sort_key(notice.date, notice.id),
            (made and made.get(notice.id)) or backend.index_text(notice),
        )
        for notice in notices
    ]
    if rows:
        with transaction.atomic():
            backend.write(rows)
    return len(rows)


def clear_index() -> None:
    _backend().clear()


def rebuild_index(
    *, batch_size: int = 1000, progress: Callable[[int, int], None] | None = None
) -> int:
    """Index every notice from scratch; `progress(done, total)` after each batch."""
    ids = list(Notice.objects.order_by("id").values_list("id", flat=True))
    clear_index()
    done = 0
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        done += index_notices(
            Notice.objects.filter(id__in=chunk).only(
                "id", "date", "title", "body_html", "attachments"
            )
        )
        if progress:
            progress(done, len(ids))
    _backend().tidy()
    return done


def analyze_tables() -> None:
    """Fresh planner statistics and visibility map after a bulk import, on PostgreSQL.

    Autovacuum notices 100,000 new rows only minutes later; until then the planner plans
    for the old, small tables: at 100,000 notices a detail page's tag query was a parallel
    hash (17 ms) instead of an index lookup, and without a vacuumed visibility map the
    keyset anchor of a deep page was a sort spilled to disk (75 ms) instead of an
    index-only scan (issue 5). SQLite plans well without statistics.
    """
    _backend().analyze()


def unindex(notice_ids: Iterable[int]) -> int:
    """Remove these notices from the search index in a few statements per 500; return how
    many rows went. counts.delete_notices() calls it for every deleted notice: there is no
    receiver deleting FTS rows one by one any more (issue 14)."""
    ids = list(notice_ids)
    removed = 0
    for start in range(0, len(ids), 500):
        rows = SearchDocument.objects.filter(notice_id__in=ids[start : start + 500])
        removed += _backend().delete_rows(rows)
    return removed
