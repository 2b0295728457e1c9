"""The addresses a post had on the Hexo or Jekyll site it came from (issue 9).

Pure: no database, no settings. The importer stores `old_addresses(...)` of each notice as
OldAddress rows; the 404 fallback (notices/old_urls.py) looks a request up with
`normalize_address(path)`, so both sides must meet on the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

# Hexo's default permalink, then Jekyll's default ("date" style), then the year-and-title
# form Jekyll sites often choose: the forms the links between posts of real archives use.
# For a post without categories the second is the first again (nothing extra is stored).
DEFAULT_PERMALINK = (
    ":year/:month/:day/:title/,"
    "/:categories/:year/:month/:day/:title:output_ext,"
    "/:categories/:year/:title/"
)

# Jekyll's named permalink styles.
JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}

# Front-matter keys naming further addresses a post answered at: jekyll-redirect-from,
# hexo-generator-alias, Hugo.
ALIAS_KEYS = ("redirect_from", "alias", "aliases")

# OldAddress.path's length: a longer address cannot be stored, so it is not produced.
MAX_ADDRESS_LENGTH = 1000

# Hexo-util's placeholder (`:name`, not ending in "_"); Jekyll's are a subset of its form.
PLACEHOLDER = re.compile(r":([A-Za-z0-9_]*[A-Za-z0-9])")
# Jekyll's and Hexo's post file name: a date prefix, then the title.
DATED_NAME = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}-(?=.)")
DATE_PLACEHOLDERS = frozenset(
    ("year", "month", "day", "i_month", "i_day", "hour", "minute", "second", "short_year",
     "y_day", "short_month", "long_month", "week", "w_year", "w_day", "short_day", "long_day",
     "hash")
)  # fmt: skip
KNOWN_PLACEHOLDERS = DATE_PLACEHOLDERS | {
    "title", "name", "slug", "post_title", "output_ext", "categories", "category", "path"
}  # fmt: skip
# The last part of an address that is the page itself, as static hosts serve it.
INDEX_NAMES = frozenset({"index.html", "index.htm"})
PAGE_ENDINGS = (".html", ".htm")

MONTHS = "January February March April May June July August September October November December"
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"


def normalize_address(path: str) -> str:
    """The key an address is stored and looked up under.

    `/2018/11/10/docker-lnmp.html`, `/2018/11/10/docker-lnmp/`, `2018/11/10/docker-lnmp/index.html`
    and `https://old.example/2018/11/10/Docker-LNMP?x#y` all become `2018/11/10/docker-lnmp`:
    scheme, host, query and fragment dropped, percent-encoding decoded (after the split, so
    an encoded `?` stays part of the path), Unicode in NFC, lower case (old static hosts
    differ in case sensitivity; two posts differing only in case are rare), empty and `.`
    parts dropped, `..` applied, and a final `index.html` or `.html` removed. The site's
    root is "" (never an old address).
    """
    text = path.strip()
    if "://" in text or text.startswith("//"):
        text = urlsplit(text).path
    else:
        text = text.split("#", 1)[0].split("?", 1)[0]
    text = unicodedata.normalize("NFC", unquote(text, errors="replace")).lower()
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    if parts and parts[-1] in INDEX_NAMES:
        parts.pop()
    elif parts and parts[-1].endswith(PAGE_ENDINGS):
        page = parts[-1].rsplit(".", 1)[0]
        if page:
            parts[-1] = page
        else:
            parts.pop()
    return "/".join(parts)


def split_patterns(pattern: str) -> list[str]:
    """NOTICES_PERMALINK's patterns (comma-separated), Jekyll style names expanded."""
    patterns = []
    for item in pattern.split(","):
        item = item.strip()
        if item:
            patterns.append(JEKYLL_STYLES.get(item, item))
    return patterns


def old_addresses(
    *,
    slug: str,
    date: dt.datetime,
    date_source: str,
    extra: Mapping[str, Any],
    source_path: str,
    pattern: str,
    zone: dt.tzinfo,
    categories: Sequence[Sequence[str] | str] = (),
    title: str = "",
) -> list[str]:
    """The normalised addresses one post had on its old site, most certain first.

    A front-matter `permalink:` is where Hexo and Jekyll published the post, so it replaces
    the archive's patterns (Jekyll's placeholders in it are expanded, Hexo's is literal and
    so is this when it has none); `redirect_from`/`alias`/`aliases` add addresses the old
    site redirected. Otherwise each of `pattern`'s comma-separated permalinks (Hexo's or
    Jekyll's placeholders, or a Jekyll style name) gives one address per spelling of the
    post's name: `slug`, the file name without its date prefix (Hexo ignores `slug:`), and
    Jekyll's slugified form of either.

    Dates are the post's date in the archive's `zone`. When the date is only the file's
    modification time (`date_source` "file_mtime"), the old site's date is unknown, so
    patterns using it give nothing. `categories` are the post's category paths (`[a, b]` or
    `[[a, b], [c]]`) for `:categories` and `:category`; `title` (as written) for
    `:post_title`.
    """
    context = _PostContext(
        slug=slug,
        date=date.astimezone(zone) if date.tzinfo else date.replace(tzinfo=zone),
        date_known=date_source != "file_mtime",
        extra=extra,
        source_path=source_path,
        category_paths=_category_paths(categories),
        title=title,
    )
    permalink = _scalar_text(extra.get("permalink"))
    rule = JEKYLL_STYLES.get(permalink, permalink)
    addresses = context.expand(rule)
    if not addresses and not KNOWN_PLACEHOLDERS.intersection(PLACEHOLDER.findall(rule)):
        addresses = [rule]  # Hexo publishes it as written: a colon naming nothing stays
    addresses = _unique_keys(addresses)
    if not addresses:  # no permalink, or one that names no page (`/`)
        rules = split_patterns(pattern)
        addresses = _unique_keys(a for rule in rules for a in context.expand(rule))
    aliases = []
    for key in ALIAS_KEYS:
        value = extra.get(key)
        aliases += [_scalar_text(v) for v in (value if isinstance(value, list) else [value])]
    return _unique_keys([*addresses, *aliases])


def _scalar_text(value: Any) -> str:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value).strip()
    return ""


def _unique_keys(addresses: Iterable[str]) -> list[str]:
    keys: dict[str, None] = {}
    for address in addresses:
        key = normalize_address(address)
        if key and len(key) <= MAX_ADDRESS_LENGTH:
            keys.setdefault(key)
    return list(keys)


def _category_paths(categories: Sequence[Sequence[str] | str]) -> list[list[str]]:
    """[a, b] (one path) or [[a, b], [c]] (several): Hexo's reading, as documents.py's."""
    if isinstance(categories, str):
        return [[categories]]
    flat = [str(c) for c in categories if isinstance(c, str | int)]
    paths = [flat] if flat else []
    for item in categories:
        if isinstance(item, list | tuple):
            path = [str(c) for c in item]
            if path and path not in paths:
                paths.append(path)
    return paths


class _PostContext:
    """One post's placeholder values; `expand(rule)` gives the rule's addresses for it."""

    def __init__(
        self,
        *,
        slug: str,
        date: dt.datetime,
        date_known: bool,
        extra: Mapping[str, Any],
        source_path: str,
        category_paths: list[list[str]],
        title: str,
    ) -> None:
        self.date = date
        self.date_known = date_known
        self.extra = extra
        self.source_path = source_path
        self.category_paths = category_paths
        self.title = title
        name = source_path.rsplit("/", 1)[-1]
        self.stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
        file_title = DATED_NAME.sub("", self.stem)
        self.slug = slug or file_title
        self.titles = _unique([self.slug, file_title])
        # Jekyll's :title: slug: (or the file name) slugified "pretty", case kept.
        self.jekyll_titles = _unique(
            jekyll_slugify(title, pretty=True, cased=True) for title in self.titles
        )

    def expand(self, rule: str) -> list[str]:
        names = PLACEHOLDER.findall(rule)
        if not self.date_known and DATE_PLACEHOLDERS.intersection(names):
            return []
        choices: dict[str, list[str]] = {}
        for name in dict.fromkeys(names):
            values = self.values(name)
            if not values:
                return []  # a placeholder this post has no value for: not its address
            choices[name] = values
        addresses = []
        for combination in itertools.product(*choices.values()):
            value_of = dict(zip(choices, combination, strict=True))
            address = PLACEHOLDER.sub(lambda m, v=value_of: v[m[1]], rule)
            # An empty value (no categories) leaves "//": Jekyll collapses it too, and
            # normalize_address would read a leading one as a host.
            addresses.append(re.sub(r"/{2,}", "/", address))
        return addresses

    def values(self, name: str) -> list[str]:
        """The spellings `:name` may have had for this post (none: unknown)."""
        date = self.date
        match name:
            case "title":
                return _unique([*self.titles, *self.jekyll_titles])
            case "name":  # Hexo: the slug's last part; Jekyll: the slugified file name
                return _unique([t.rsplit("/", 1)[-1] for t in self.titles] + [
                    jekyll_slugify(self.stem)
                ])  # fmt: skip
            case "slug":  # Jekyll's :slug
                return _unique(jekyll_slugify(t) for t in self.titles)
            case "post_title":
                return [hexo_slugize(self.title, lower=True)] if self.title else []
            case "year":
                return [f"{date.year:04d}"]
            case "month":
                return [f"{date.month:02d}"]
            case "day":
                return [f"{date.day:02d}"]
            case "i_month":
                return [str(date.month)]
            case "i_day":
                return [str(date.day)]
            case "hour":
                return [f"{date.hour:02d}"]
            case "minute":
                return [f"{date.minute:02d}"]
            case "second":
                return [f"{date.second:02d}"]
            case "short_year":
                return [f"{date.year % 100:02d}"]
            case "y_day":
                return [f"{date.timetuple().tm_yday:03d}"]
            case "short_month":
                return [MONTHS.split()[date.month - 1][:3].upper()]
            case "long_month":
                return [MONTHS.split()[date.month - 1]]
            case "week":
                return [f"{date.isocalendar().week:02d}"]
            case "w_year":
                return [str(date.isocalendar().year)]
            case "w_day":
                return [str(date.isoweekday())]
            case "short_day":
                return [DAYS.split()[date.weekday()][:3].upper()]
            case "long_day":
                return [DAYS.split()[date.weekday()]]
            case "hash":  # Hexo: the first 12 hex digits of sha1(slug + Unix time)
                seed = f"{self.titles[-1]}{int(date.timestamp())}"
                return [hashlib.sha1(seed.encode()).hexdigest()[:12]]
            case "output_ext":
                return [".html"]
            case "categories":  # Jekyll: every category, lower case, "/"-joined
                flat = [c.lower() for path in self.category_paths for c in path]
                return ["/".join(_unique(flat))]
            case "category":  # Hexo: the last category's slug (its path), else the default
                if not self.category_paths:
                    return ["uncategorized"]
                return ["/".join(hexo_slugize(c) for c in self.category_paths[-1])]
            case "path":  # Jekyll: the source file's path without its extension
                return [self.source_path.rsplit(".", 1)[0]] if self.source_path else []
        # Hexo fills any other placeholder from the post's front matter (`:lang`, `:id`).
        value = _scalar_text(self.extra.get(name))
        return [value] if value else []


def _unique(values: Iterable[str]) -> list[str]:
    return [v for v in dict.fromkeys(values) if v]


def _is_word_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd"


JEKYLL_PRETTY_KEEP = frozenset("._~!$&'()+,;=@")


def jekyll_slugify(text: str, *, pretty: bool = False, cased: bool = False) -> str:
    """Jekyll's Utils.slugify, "default" or "pretty" mode: runs of other characters become
    one hyphen, none at either end."""
    out: list[str] = []
    for char in text:
        keep = _is_word_char(char) or (pretty and char in JEKYLL_PRETTY_KEEP)
        if keep:
            out.append(char)
        elif not out or out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")
    return slug if cased else slug.lower()


HEXO_SPECIAL = re.compile(r"""[\s~`!@#$%^&*()\-_+=\[\]{}|\\;:"'<>,.?/]+""")


def hexo_slugize(text: str, *, lower: bool = False) -> str:
    """hexo-util's slugize: accents dropped, punctuation runs become one hyphen."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[\x00-\x1f]", "", text)
    slug = HEXO_SPECIAL.sub("-", text).strip("-")
    return slug.lower() if lower else slug
