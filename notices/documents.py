"""Archive files to `NoticeDocument`s: pure parsing, no database.

A document is Markdown with front matter in Hexo's dialect (YAML between `---`
lines; TOML `+++` and JSON `{ … }` are accepted too). Everything the model does
not hold is kept in `extra`, and the body is kept exactly as written, so a notice
can be written back out as the document it came from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import re
import tomllib
import unicodedata
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from django.conf import settings
from frontmatter.default_handlers import BaseHandler, JSONHandler, YAMLHandler

from notices.hygiene import clean_field, has_invisible, removed_message

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
SOURCE_LINK_TEXT = "转入文章首发地址"
# Front-matter keys that may carry the first-published address instead of the body line.
SOURCE_URL_KEYS = ("source_url", "source", "link", "original", "original_url", "origin")
# Keys the model holds; every other key goes to `extra` unchanged.
MODEL_KEYS = frozenset({"title", "date", "urlname", "tags", "categories"})

MAX_TITLE_LENGTH = 500
MAX_URLNAME_LENGTH = 200
MAX_TAG_LENGTH = 100
MAX_CATEGORY_LENGTH = 100
MAX_SITE_LENGTH = 200
MAX_DOMAIN_LENGTH = 200
MAX_CATEGORY_DEPTH = 20
MAX_CATEGORY_PATH_LENGTH = 700
MAX_URL_LENGTH = 2000
# Bounds the work done on YAML alias graphs ("billion laughs"): a sane front
# matter has a few dozen values.
MAX_FRONT_MATTER_VALUES = 10_000
MAX_FRONT_MATTER_DEPTH = 50
_SURROGATE = re.compile("[\ud800-\udfff]")


_LINE_BREAKS = re.compile(r"\s*[\r\n\x85\u2028\u2029]\s*")


class DocumentError(Exception):
    """A document that cannot become a notice; str() is `path[:line]: reason`."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        # One error is one line of output, whatever the YAML or database library said.
        self.message = _LINE_BREAKS.sub(" ", message)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class NoticeDocument:
    urlname: str
    raw_title: str
    title: str
    site: str
    domain: str
    date: dt.datetime
    body: str
    source_url: str
    tags: list[str] = field(default_factory=list)
    category_paths: list[list[str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    source_path: str = ""
    content_hash: str = ""
    warnings: list[str] = field(default_factory=list)
    # DateSource value (notices.models): "front_matter", or how the date was guessed.
    date_source: str = "front_matter"
    updated: dt.datetime | None = None
    slug: str = ""
    # The front matter exactly as written (delimiters included): front_matter + body is the
    # file's text, and source_format says how that text was encoded (decode_file()).
    front_matter: str = ""
    source_format: dict[str, Any] = field(default_factory=dict)


# --- Front matter ---------------------------------------------------------


class TextPreservingLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loading in which plain scalars stay the text that was written.

    YAML 1.1 implicit typing turns `urlname: 0123` into 83, `tags: 996` into an
    int, `yes` into True and `1e5` into a float; static-site generators then
    publish such posts under the wrong address. Only null (`key:` with no value)
    is still resolved; dates are parsed by `parse_date` from the text.
    """


TextPreservingLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class TextYAMLHandler(YAMLHandler):
    # A closing line of exactly `---` (trailing blanks allowed): python-frontmatter's
    # default `\s*` would swallow the blank line that starts a body.
    FM_BOUNDARY = re.compile(r"^-{3}[ \t]*\r?$", re.MULTILINE)

    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=TextPreservingLoader)  # noqa: S506 - a SafeLoader


class TOMLHandler(BaseHandler):
    FM_BOUNDARY = re.compile(r"^\+{3}[ \t]*\r?$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: object) -> Any:
        return tomllib.loads(fm)


HANDLERS: tuple[BaseHandler, ...] = (TextYAMLHandler(), TOMLHandler(), JSONHandler())


def split_front_matter(text: str, path: str) -> tuple[dict[str, Any], str, BaseHandler]:
    """Return (metadata, body, handler); the body is everything after the closing line."""
    handler = frontmatter.detect_format(text, HANDLERS)
    if handler is None:
        raise DocumentError(path, "no front matter: the file must start with a --- line", 1)
    parts = handler.FM_BOUNDARY.split(text, 2)
    if len(parts) < 3:
        raise DocumentError(path, "front matter opened on line 1 is never closed", 1)
    _, fm_text, rest = parts
    if isinstance(handler, JSONHandler):
        fm_text = "{" + fm_text + "}"
    body = rest[1:] if rest.startswith("\n") else rest
    try:
        metadata = handler.load(fm_text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # fm_text starts right after the opening delimiter, so its line 0 is file line 1.
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise DocumentError(path, f"invalid front matter: {problem}", line) from None
    except yaml.reader.ReaderError as exc:  # PyYAML's only other loading error
        line = fm_text.count("\n", 0, exc.position) + 1
        raise DocumentError(path, f"invalid front matter: {exc.reason}", line) from None
    except tomllib.TOMLDecodeError as exc:
        raise DocumentError(path, f"invalid TOML front matter: {exc}", 1) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(path, f"invalid JSON front matter: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise DocumentError(path, "front matter is nested too deeply", 1) from None
    except (ValueError, OverflowError) as exc:
        # e.g. `!!int` with 5,000 digits: Python refuses to convert it.
        raise DocumentError(path, f"invalid front matter value: {exc}", 1) from None
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        # PyYAML's safe constructors crash on some malformed explicit tags
        # (`!!timestamp 0'2000-01-01'` raises AttributeError): still just a bad file.
        raise DocumentError(path, f"invalid front matter value: {exc}", 1) from None
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise DocumentError(path, "front matter must be a mapping of keys to values", 2)
    _check_size(metadata, path)
    return metadata, body, handler


def _check_size(value: Any, path: str) -> None:
    """Reject front matter whose value graph is huge (YAML alias bombs expand here), too
    deep, or holding what a database cannot store (NUL, unpaired surrogates, NaN, bytes)."""
    budget = MAX_FRONT_MATTER_VALUES
    stack = [(value, 0)]
    while stack:
        budget -= 1
        if budget < 0:
            raise DocumentError(path, "front matter is too large (too many values or aliases)")
        item, depth = stack.pop()
        if depth > MAX_FRONT_MATTER_DEPTH:
            raise DocumentError(path, "front matter is nested too deeply")
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise DocumentError(path, "front matter contains a NUL character")
            if _SURROGATE.search(item):
                raise DocumentError(path, "front matter contains an unpaired surrogate")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise DocumentError(path, f"front matter number {item} is not finite")
        elif not isinstance(item, int | bool | dt.date | dt.time) and item is not None:
            raise DocumentError(
                path, f"front matter value of type {type(item).__name__} is not supported"
            )


# --- Field rules ----------------------------------------------------------

TITLE_PATTERN = re.compile(
    r"^\s*(?P<site>[^\n]+?)\s*(?:->|－>|—>|→)\s*(?P<title>.+?)\s*[|｜]\s*(?P<domain>[^\s|｜]+)\s*$",
    re.DOTALL,
)
SITE_ONLY_PATTERN = re.compile(r"^\s*(?P<site>[^\n]+?)\s*(?:->|－>|—>|→)\s*(?P<title>.+?)\s*$")
DOMAIN_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def split_title(raw_title: str) -> tuple[str, str, str]:
    """Return (site, title, domain) from `Site->Title | domain`; the whole title otherwise."""
    match = TITLE_PATTERN.match(raw_title)
    if match and DOMAIN_PATTERN.match(match["domain"]):
        return match["site"], match["title"], match["domain"].lower()
    match = SITE_ONLY_PATTERN.match(raw_title)
    if match:
        return match["site"], match["title"], ""
    return "", raw_title.strip(), ""


DATE_PATTERN = re.compile(
    r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:(?:\s+|T|t)(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{2})(?:\s*[:：]\s*(?P<S>\d{2})(?:[.,](?P<f>\d+))?)?)?"
    r"\s*(?P<tz>Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)


# A leading date is looked for in this many characters (a date with seconds, offset).
MAX_DATE_PREFIX = 40


def parse_date(value: Any, zone: dt.tzinfo) -> dt.datetime:
    """Return an aware datetime; naive values are wall-clock time in `zone`.

    Raises ValueError for text that is not a date.
    """
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime(value.year, value.month, value.day)
    else:
        # NFKC: full-width digits and colons (２０２０－０１－３１ １５：３１) as ASCII.
        text = unicodedata.normalize("NFKC", str(value)).strip()
        match = DATE_PATTERN.match(text)
        if not match:
            raise ValueError(f"unrecognised date {text!r}")
        fraction = (match["f"] or "0")[:6].ljust(6, "0")
        result = dt.datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
            int(fraction),
        )
        tz_text = match["tz"]
        if tz_text:
            if tz_text.upper() in {"Z", "UTC"}:
                result = result.replace(tzinfo=dt.UTC)
            else:
                sign = 1 if tz_text[0] == "+" else -1
                digits = tz_text[1:].replace(":", "")
                offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                result = result.replace(tzinfo=dt.timezone(sign * offset))
    if result.tzinfo is None:
        result = result.replace(tzinfo=zone)
    return result


def as_text_list(value: Any) -> list[str]:
    """Tags in any shape (list, string, number, empty) as unique, non-empty strings."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    seen: dict[str, None] = {}
    for item in items:
        if item is None or isinstance(item, dict | list):
            continue
        text = str(item).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def category_paths(value: Any) -> list[list[str]]:
    """Hexo semantics: `[a, b]` is the path a > b; lists inside the list are more paths."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    paths: list[list[str]] = []
    main_path = as_text_list([item for item in value if not isinstance(item, list)])
    if main_path:
        paths.append(main_path)
    for item in value:
        if isinstance(item, list):
            path = as_text_list(item)
            if path and path not in paths:
                paths.append(path)
    return paths


SOURCE_LINE_PATTERN = re.compile(
    r"^\s*\[\s*" + SOURCE_LINK_TEXT + r"\s*\]\(\s*<?(?P<url>[^\s)>]*)>?\s*\)\s*$"
)


def find_source_link(body: str) -> tuple[str, str | None]:
    """Return (url, line) for the trailing 转入文章首发地址 link; url is '' unless http(s)."""
    stripped = body.rstrip()
    last_line = stripped.rsplit("\n", 1)[-1]
    match = SOURCE_LINE_PATTERN.match(last_line)
    if not match:
        return "", None
    return safe_http_url(match["url"]), last_line


def safe_http_url(url: Any) -> str:
    """Only http(s) URLs count: javascript:, data: and friends never become links."""
    text = str(url or "").strip()
    if len(text) > MAX_URL_LENGTH or not re.match(r"^https?://[^\s/?#]+", text, re.IGNORECASE):
        return ""
    # Quotes, brackets, blanks, control and invisible characters: what the archive's Markdown
    # links and the admin's form both refuse (issue 11).
    if any(ch in "\"'<>`\\" or ch.isspace() or not ch.isprintable() for ch in text):
        return ""
    return text


def derive_urlname(source_path: str) -> str:
    """A stable urlname for a document that has none: its path, made URL-friendly."""
    from django.utils.text import slugify

    stem = source_path.rsplit(".", 1)[0] if "." in source_path.rsplit("/", 1)[-1] else source_path
    slug = slugify(stem.replace("/", "-"), allow_unicode=True)[: MAX_URLNAME_LENGTH - 9]
    digest = hashlib.sha1(source_path.encode()).hexdigest()[:8]
    # The digest keeps two paths that slugify alike (a/b.md, a-b.md) apart.
    return f"{slug}-{digest}" if slug else digest


def jsonable(value: Any) -> Any:
    """Front-matter values as JSON: dates from TOML become ISO text."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return value


# Jekyll's post name (`2019-4-5-slug.md`, month and day may be unpadded) and Hexo's
# `:year/:month/:day/` folders: where both look for an undated post's date.
FILE_NAME_DATE = re.compile(r"(?:^|/)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:-|\.[^./]+$)")
FOLDER_DATE = re.compile(r"(?:^|/)(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})/")
UPDATED_KEYS = ("updated", "last_modified_at")


def file_name_date(source_path: str, zone: dt.tzinfo) -> dt.datetime | None:
    """The date a post's path carries (`2020-01-31-slug.md`, `2020/01/31/slug.md`), or None."""
    name_match = FILE_NAME_DATE.search(source_path.rsplit("/", 1)[-1])
    for match in (name_match, FOLDER_DATE.search(source_path)):
        if match:
            try:
                day = dt.datetime(int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=zone)
                return _checked_date(day, zone)
            except (ValueError, OverflowError):
                continue
    return None


def post_slug(source_path: str, slug_value: Any = None) -> str:
    """Hexo's `:title`: front-matter `slug:`, else the file name without a date prefix."""
    if slug_value is not None and not isinstance(slug_value, dict | list):
        text = str(slug_value).strip()
        if text and _is_valid_urlname(text):
            return text
    name = source_path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    match = FILE_NAME_DATE.match(name)
    if match and match.end() < len(name) and name[match.end() - 1] == "-":
        stem = stem[match.end() :] or stem
    return stem[:MAX_URLNAME_LENGTH]


def _checked_date(date: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    # Both conversions happen later (database, export); out of range fails here instead.
    date.astimezone(dt.UTC), date.astimezone(zone)
    return date


def leading_date(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """The longest date at the start of `value` when text that is not a date follows it."""
    text = unicodedata.normalize("NFKC", str(value)).strip()[:MAX_DATE_PREFIX]
    # Shortening one character at a time: an unanchored regex would stop at the first way
    # to match (`2024-06-01` of `2024-06-01 9:30 …`), not the longest.
    for end in range(len(text), 7, -1):
        if DATE_PATTERN.match(text[:end].rstrip()):
            try:
                return _checked_date(parse_date(text[:end], zone), zone)
            except (ValueError, OverflowError):
                return None
    return None


# A key at column 0 (plain or quoted) followed by `:` and a blank or the line's end.
_TOP_LEVEL_KEY = re.compile(
    r"^(?P<key>[^\s#\-?:'\"{}\[\],&*!|>%@`][^:\n]*?|'[^'\n]*'|\"[^\"\n]*\")[ \t]*:(?:[ \t]|$)"
)


def _duplicate_keys(front_matter: str) -> dict[str, list[int]]:
    """Top-level YAML keys written more than once, with their 1-based file lines."""
    seen: dict[str, list[int]] = {}
    for number, line in enumerate(front_matter.split("\n")[1:-1], start=2):
        match = _TOP_LEVEL_KEY.match(line)
        if match:
            seen.setdefault(match["key"].strip("'\""), []).append(number)
    return {key: lines for key, lines in seen.items() if len(lines) > 1}


@dataclass
class _Reading:
    """One document's text while its fields are read: errors and warnings name the file and
    the line of the key they are about."""

    text: str
    source_path: str
    zone: dt.tzinfo
    warnings: list[str] = field(default_factory=list)

    def line(self, key: str) -> int | None:
        return _key_line(self.text, key)

    def error(self, key: str, message: str) -> DocumentError:
        return DocumentError(self.source_path, message, self.line(key))

    def warn(self, line: int | None, message: str) -> None:
        self.warnings.append(str(DocumentError(self.source_path, message, line)))

    def clean(self, value: str, field_name: str, key: str) -> str:
        """Bidi controls and zero-width characters go from the notice's fields
        (notices/hygiene.py), not from its front matter as written: an unedited notice still
        exports as its file."""
        cleaned, removed = clean_field(value)
        if removed:
            self.warn(self.line(key), removed_message(field_name, removed))
        return cleaned.strip()


def _warn_duplicate_keys(front_matter: str, reading: _Reading) -> None:
    for key, lines in _duplicate_keys(front_matter).items():
        shown = ", ".join(str(line) for line in lines)
        reading.warn(lines[-1], f"key {key!r} appears on lines {shown}; the last one is used")


def _title(value: Any, reading: _Reading) -> str:
    """The title as written (`Site->Title | domain` included), cleaned."""
    if isinstance(value, dict | list) or value is None or not str(value).strip():
        raise reading.error("title", "missing or empty title")
    raw_title = reading.clean(str(value).strip(), "title", "title")
    if not raw_title:
        raise reading.error("title", "missing or empty title")
    if len(raw_title) > MAX_TITLE_LENGTH:
        raise reading.error("title", f"title is longer than {MAX_TITLE_LENGTH} characters")
    return raw_title


def _title_parts(raw_title: str) -> tuple[str, str, str]:
    """(site, title, domain); the whole title when a site or domain would not fit its column."""
    site, title, domain = split_title(raw_title)
    if len(site) > MAX_SITE_LENGTH or len(domain) > MAX_DOMAIN_LENGTH:
        return "", raw_title, ""
    return site, title, domain


def _urlname(value: Any, reading: _Reading) -> str:
    urlname = "" if value is None else str(value).strip()
    if urlname and not isinstance(value, dict | list):
        urlname = reading.clean(urlname, "urlname", "urlname")
    if not urlname:
        return derive_urlname(reading.source_path)
    if isinstance(value, dict | list) or not _is_valid_urlname(urlname):
        raise reading.error(
            "urlname",
            f"urlname {urlname[:50]!r} is not usable in a URL "
            f"(no '/', spaces or control characters; at most {MAX_URLNAME_LENGTH} characters)",
        )
    return urlname


def _date(
    value: Any, reading: _Reading, fallback_date: dt.datetime | None
) -> tuple[dt.datetime, str]:
    """(date, DateSource value) as Hexo and Jekyll choose it: the `date:` field (its leading
    date when text follows it), else the date in the file name, else the file's mtime."""
    zone, source_path = reading.zone, reading.source_path
    line = reading.line("date")
    problem = "no date in front matter"
    if value is not None and str(value).strip() != "":
        try:
            return _checked_date(parse_date(value, zone), zone), "front_matter"
        except OverflowError as exc:
            raise DocumentError(source_path, f"invalid date: {exc}", line) from None
        except ValueError as exc:
            problem = f"invalid date: {exc}"
        leading = leading_date(value, zone)
        if leading is not None:
            reading.warn(
                line,
                f"date {str(value).strip()!r} has text after the date; "
                f"using {leading:%Y-%m-%d %H:%M}",
            )
            return leading, "front_matter"
    from_name = file_name_date(source_path, zone)
    if from_name is not None:
        reading.warn(line, f"{problem}; using the date in the file name ({from_name.date()})")
        return from_name, "file_name"
    if problem.startswith("invalid"):
        raise DocumentError(source_path, problem, line)
    if fallback_date is None:
        raise DocumentError(source_path, "missing date", line)
    reading.warn(line, f"{problem}; using the file's modification time")
    return fallback_date, "file_mtime"


def _updated(metadata: dict[str, Any], reading: _Reading) -> dt.datetime | None:
    """The first of UPDATED_KEYS that is given; one that is not a date is ignored."""
    for key in UPDATED_KEYS:
        value = metadata.get(key)
        if value is not None and str(value).strip() and not isinstance(value, dict | list):
            try:
                return _checked_date(parse_date(value, reading.zone), reading.zone)
            except (ValueError, OverflowError) as exc:
                reading.warn(reading.line(key), f"ignored {key}: {exc}")
                return None
    return None


def _tags(value: Any, reading: _Reading) -> list[str]:
    tags = as_text_list(value)
    if any(has_invisible(tag) for tag in tags):
        removed = sum(clean_field(tag)[1] for tag in tags)
        reading.warn(reading.line("tags"), removed_message("tags", removed))
        tags = as_text_list([clean_field(tag)[0] for tag in tags])
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise reading.error("tags", f"tag longer than {MAX_TAG_LENGTH} characters")
    return tags


def _categories(value: Any, reading: _Reading) -> list[list[str]]:
    paths = category_paths(value)
    if any(has_invisible(name) for path in paths for name in path):
        removed = sum(clean_field(name)[1] for path in paths for name in path)
        reading.warn(reading.line("categories"), removed_message("categories", removed))
        cleaned_paths = [as_text_list([clean_field(name)[0] for name in path]) for path in paths]
        paths = []
        for path in cleaned_paths:
            if path and path not in paths:
                paths.append(path)
    for path in paths:
        if any(len(name) > MAX_CATEGORY_LENGTH for name in path):
            raise reading.error(
                "categories", f"category name longer than {MAX_CATEGORY_LENGTH} characters"
            )
        # Category.path and full_name hold the whole path in 1,000 characters.
        if len(path) > MAX_CATEGORY_DEPTH or len(" > ".join(path)) > MAX_CATEGORY_PATH_LENGTH:
            raise reading.error(
                "categories",
                f"category path deeper than {MAX_CATEGORY_DEPTH} levels or longer than "
                f"{MAX_CATEGORY_PATH_LENGTH} characters",
            )
    return paths


def _source_url(body: str, metadata: dict[str, Any]) -> str:
    """The body's trailing 转入文章首发地址 link, else the first of SOURCE_URL_KEYS that is one."""
    source_url, _line = find_source_link(body)
    if source_url:
        return source_url
    for key in SOURCE_URL_KEYS:
        if key in metadata and not isinstance(metadata[key], dict | list):
            source_url = safe_http_url(metadata[key])
            if source_url:
                return source_url
    return ""


# --- Files ----------------------------------------------------------------


def decode_file(data: bytes, path: str) -> tuple[str, dict[str, Any]]:
    """(text, source_format): UTF-8 (BOM or not), else GB18030, which Chinese archives often
    use. A file with CRLF on every line is read with LF and remembers "\r\n"; mixed line
    endings stay as they are, so the text and its format give back the file's bytes."""
    bom = data.startswith(b"\xef\xbb\xbf")
    if bom:
        data = data[3:]
    encoding = "utf-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise DocumentError(path, "file is neither UTF-8 nor GB18030 text") from None
    if "\x00" in text:
        raise DocumentError(path, "file contains NUL bytes: not a text document")
    newline = "\n"
    crlf = text.count("\r\n")
    if crlf and crlf == text.count("\n"):
        text, newline = text.replace("\r\n", "\n"), "\r\n"
    return text, {"encoding": encoding, "bom": bom, "newline": newline}


def encode_file(text: str, source_format: dict[str, Any]) -> bytes:
    """The inverse of decode_file(): a document's text as the bytes of its file."""
    newline = source_format.get("newline", "\n")
    if newline != "\n":
        text = text.replace("\n", newline)
    data = text.encode(source_format.get("encoding", "utf-8"))
    return b"\xef\xbb\xbf" + data if source_format.get("bom") else data


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_zone() -> dt.tzinfo:
    """The time zone of the archive's dates written without one (NOTICES_ARCHIVE_TZ)."""
    return zoneinfo.ZoneInfo(settings.NOTICES_ARCHIVE_TZ)


def parse_text(
    text: str,
    *,
    source_path: str = "<string>",
    zone: dt.tzinfo | None = None,
    fallback_date: dt.datetime | None = None,
) -> NoticeDocument:
    """Parse a document's text; raise DocumentError naming the file (and line). `zone` is
    that of dates written without one (default NOTICES_ARCHIVE_TZ)."""
    metadata, body, handler = split_front_matter(text, source_path)
    metadata = {str(key): value for key, value in metadata.items()}
    reading = _Reading(text, source_path, zone or archive_zone())
    front_matter = text[: len(text) - len(body)]
    if isinstance(handler, TextYAMLHandler):
        _warn_duplicate_keys(front_matter, reading)
    raw_title = _title(metadata.get("title"), reading)
    site, title, domain = _title_parts(raw_title)
    urlname = _urlname(metadata.get("urlname"), reading)
    date, date_source = _date(metadata.get("date"), reading, fallback_date)
    updated = _updated(metadata, reading)
    tags = _tags(metadata.get("tags"), reading)
    paths = _categories(metadata.get("categories"), reading)
    return NoticeDocument(
        urlname=urlname,
        raw_title=raw_title,
        title=title,
        site=site,
        domain=domain,
        date=date,
        body=body,
        source_url=_source_url(body, metadata),
        tags=tags,
        category_paths=paths,
        extra={key: jsonable(value) for key, value in metadata.items() if key not in MODEL_KEYS},
        source_path=source_path,
        warnings=reading.warnings,
        date_source=date_source,
        updated=updated,
        slug=post_slug(source_path, metadata.get("slug")),
        front_matter=front_matter,
    )


def parse_file(
    path: Path,
    *,
    root: Path | None = None,
    zone: dt.tzinfo | None = None,
    max_bytes: int | None = None,
) -> NoticeDocument:
    """Read and parse one archive file; `source_path` is relative to `root`."""
    source_path = path.relative_to(root).as_posix() if root else path.as_posix()
    data, mtime = read_document(path, source_path, max_bytes)
    return parse_bytes(data, source_path=source_path, zone=zone, mtime=mtime, max_bytes=max_bytes)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows


def read_document(path: str | Path, source_path: str, max_bytes: int | None) -> tuple[bytes, float]:
    """(bytes, mtime) of an archive file; raise DocumentError naming `source_path` if it cannot
    be read or is larger than `max_bytes`, checked before reading: a huge file is never
    loaded into memory. (os.open/os.read: a file object cost a third of the time of
    re-importing an unchanged archive, issue 13.)"""
    try:
        fd = os.open(path, _READ_FLAGS)
        try:
            stat = os.fstat(fd)
            if max_bytes is not None and stat.st_size > max_bytes:
                raise DocumentError(source_path, file_too_large_message(stat.st_size, max_bytes))
            # One read: a byte more than the file had, so one that grew is read to its end.
            data = os.read(fd, stat.st_size + 1)
            if data and len(data) != stat.st_size:
                chunks = [data]
                while chunks[-1]:
                    chunks.append(os.read(fd, 1 << 16))
                data = b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise DocumentError(source_path, f"cannot read file: {exc.strerror}") from None
    return data, stat.st_mtime


def parse_bytes(
    data: bytes,
    *,
    source_path: str,
    zone: dt.tzinfo | None = None,
    mtime: float | None = None,
    max_bytes: int | None = None,
    data_hash: str | None = None,
) -> NoticeDocument:
    """Parse a file's bytes; `data_hash` is their content_hash() when the caller has it already."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DocumentError(source_path, file_too_large_message(len(data), max_bytes))
    text, source_format = decode_file(data, source_path)
    fallback = dt.datetime.fromtimestamp(mtime, dt.UTC) if mtime is not None else None
    document = parse_text(text, source_path=source_path, zone=zone, fallback_date=fallback)
    document.content_hash = data_hash or content_hash(data)
    document.source_format = source_format
    return document


def file_too_large_message(size: int, limit: int) -> str:
    return (
        f"file is {size:,} bytes, larger than the limit of {limit:,} bytes "
        "(the NOTICES_MAX_FILE_BYTES setting)"
    )


def _is_valid_urlname(urlname: str) -> bool:
    return (
        0 < len(urlname) <= MAX_URLNAME_LENGTH
        and not any(ch.isspace() or ch == "/" or ord(ch) < 32 or ch in "?#%\\" for ch in urlname)
        and urlname not in {".", ".."}
    )


def _key_line(text: str, key: str) -> int | None:
    """The 1-based line of `key:` in the front matter, for error messages."""
    match = re.search(rf"^{re.escape(key)}\s*[:=]", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None
