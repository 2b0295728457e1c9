"""The filters every notice list shares: category (with its sub-categories), tags (AND-ed),
site, year and month, read from the query string, applied to a queryset, shown as removable
chips, and counted as facets.

Used by the list pages (views.py), search results (search.py), the feeds (feeds.py, through
`scoped_filters`, as the pages) and the export's selection (exporting.select_notices), so one
set of parameter names and one set of rules (days in the site's time zone) holds everywhere:

    ?category=<category path>  ?tag=<slug>&tag=<slug>  ?site=<site>  ?year=2023  ?month=5
    ?since=2023-01-01  ?until=2023-03-31  (a date range, both ends included)
    ?attachments=1  (only notices with attachments, 有附件: notices/attachments.py)
    ?source=gone  (notices whose original is gone: notices/linkcheck.py, issue 15)
    ?all=1  (every copy of a notice published by several sources; lists show one entry per
             group of near-duplicates otherwise: NoticeQuerySet.one_per_group, grouping.py)

Unknown category/tag/site and malformed or out-of-range numbers raise Http404 (never a 500).
Every filter is an `IN (subquery)`, so the filtered queryset has no duplicate rows and
can be counted, paginated and grouped for facets as it is.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from taggit.models import Tag

from notices import counts
from notices.caching import archive_facts, cached
from notices.links import url_maker
from notices.models import (
    Category,
    Notice,
    NoticeQuerySet,
    SourceCheck,
    TaggedNotice,
    label_categories,
)
from notices.search import has_unlisted
from notices.sorting import name_key, sorted_by_name

FILTER_PARAMS = (
    "category", "tag", "site", "year", "month", "since", "until", "attachments", "source", "all",
)  # fmt: skip
# `?source=` values: what the link checker found of the notices' originals (issue 15).
SOURCE_STATES = ("gone",)
# Not filters, and not carried into filter links: a changed filter starts again at page 1.
DROPPED_PARAMS = ("page", "format")
# Other parameters a list or search page reads, kept in its filter links (a search's `q`).
# Anything else is dropped from links and cache keys: 999 junk parameters must not be
# copied into every link of the page (issue 11).
CARRIED_PARAMS = ("q", "sort")
LINK_PARAMS = (*FILTER_PARAMS, *DROPPED_PARAMS, *CARRIED_PARAMS)
# Each tag is one more subquery; nobody needs more to narrow a list.
MAX_TAGS = 5
FACET_LIMIT = 12
# Sub-categories are shown as a list on category pages: allow more of them.
CATEGORY_FACET_LIMIT = 60

# The tables the hand-written facet queries read (_Listed).
NOTICE = Notice._meta.db_table
NOTICE_CATEGORIES = Notice.categories.through._meta.db_table
TAGGED_NOTICE = TaggedNotice._meta.db_table

_YEAR = re.compile(r"^[0-9]{4}$")
_MONTH = re.compile(r"^[0-9]{1,2}$")


class ActiveFilter(NamedTuple):
    """A filter in force: what to show, and the query string (no `?`) that removes it."""

    label: str
    query: str
    narrows: bool = True  # False for "every copy", which widens the list


@dataclass(frozen=True)
class NoticeFilters:
    category: Category | None = None
    tags: tuple[Tag, ...] = ()
    site: str = ""
    year: int | None = None
    month: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    attachments: bool = False
    source: str = ""
    # `?all=1`: every copy of a group of near-duplicates, not one entry per group.
    all_copies: bool = False
    # Filters given by the page itself (the category of a category page): always applied,
    # never shown as removable and never written into links.
    fixed: frozenset[str] = frozenset()
    # The tag(s) of a tag page: always applied; more tags may be added by parameters.
    page_tags: tuple[Tag, ...] = ()
    # Other parameters of the request (a search's `q`), kept in every filter link.
    carried: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    # --- Reading ---------------------------------------------------------

    @classmethod
    def from_params(cls, params: QueryDict, **fixed: Any) -> NoticeFilters:
        """Filters from a query string. Keyword arguments are the page's own filters (the
        category of a category page): they replace the same parameters in `params`, except
        tags, which add to the page's own. Raises Http404 for values that match nothing."""
        if any("\x00" in value for _, values in params.lists() for value in values):
            raise Http404("NUL in a parameter.")  # PostgreSQL cannot even compare it
        values: dict[str, Any] = {}
        if params.get("category"):
            values["category"] = category_or_404(params["category"])
        if params.getlist("tag"):
            values["tags"] = _tags_for(params.getlist("tag"))
        if params.get("site"):
            values["site"] = site_or_404(params["site"])
        if params.get("year"):
            values["year"] = _number(params["year"], _YEAR, 1, 9999)
        if params.get("month"):
            values["month"] = _number(params["month"], _MONTH, 1, 12)
        for key in ("since", "until"):
            if params.get(key):
                values[key] = _date(params[key])
        if params.get("attachments"):
            if params["attachments"] != "1":
                raise Http404("attachments=1 or nothing.")
            values["attachments"] = True
        if params.get("source"):
            if params["source"] not in SOURCE_STATES:
                raise Http404("Not a source state (gone).")
            values["source"] = params["source"]
        if params.get("all"):
            if params["all"] != "1":
                raise Http404("all=1 or nothing.")
            values["all_copies"] = True
        page_tags = tuple(fixed.pop("tags", ()))
        values.update(fixed)
        if page_tags:
            extra = [tag for tag in values.get("tags", ()) if tag not in page_tags]
            values["tags"] = (*page_tags, *extra)
            if len(values["tags"]) > MAX_TAGS:
                raise Http404(f"At most {MAX_TAGS} tags.")
        if values.get("month") and not values.get("year"):
            raise Http404("A month needs a year.")
        carried = tuple(
            (key, value)
            for key, values_of_key in params.lists()
            for value in values_of_key
            if key in CARRIED_PARAMS
        )
        return cls(**values, fixed=frozenset(fixed), page_tags=page_tags, carried=carried)

    def count_scope(self) -> str | None:
        """The scope of the stored counts (notices/counts.py) that holds this list: at most
        one category, tag, site or period; None for more, for date ranges, and for `source`
        (no stored counts: such lists are counted by grouped queries over their rows)."""
        if self.since or self.until or self.source or len(self.tags) > 1:
            return None
        given = [bool(self.category), bool(self.tags), bool(self.site), bool(self.year)]
        if sum(given) + self.attachments > 1:
            return None
        if self.attachments:
            return counts.ATTACHMENTS
        if self.category:
            return counts.category_scope(self.category.id)
        if self.tags:
            return counts.tag_scope(self.tags[0].id)
        if self.site:
            return counts.site_scope(self.site)
        if self.year:
            return counts.period_scope(self.year, self.month)
        return counts.ALL

    # --- Applying --------------------------------------------------------

    def apply(self, notices: QuerySet[Notice], *, wide: bool = False) -> QuerySet[Notice]:
        """`notices` narrowed by these filters. IN (subquery) rather than joins: no repeated
        rows, and the database can start from the link table's index instead of testing every
        notice. A `wide` list (a category or tag holding many notices) instead tests each
        notice as the (date, id) index gives them, newest first, so its first page stops
        after a few hundred rows rather than sorting all of its rows (issue 13)."""
        if self.category:
            in_category = notice_ids_in_category(self.category)
            if wide:
                in_category = Exists(in_category.filter(notice_id=OuterRef("pk")))
                notices = notices.filter(in_category)
            else:
                notices = notices.filter(pk__in=in_category)
        for tag in self.tags:  # one subquery per tag: several tags AND together
            tagged = TaggedNotice.objects.filter(tag=tag)
            if wide:
                notices = notices.filter(Exists(tagged.filter(content_object_id=OuterRef("pk"))))
            else:
                notices = notices.filter(pk__in=tagged.values("content_object_id"))
        if self.site:
            notices = notices.filter(site=self.site)
        if self.year:
            start, end = period_bounds(self.year, self.month)
            notices = notices.filter(date__gte=start)
            if end is not None:
                notices = notices.filter(date__lt=end)
        if self.since:
            notices = notices.filter(date__gte=day_start(self.since))
        if self.until and self.until < dt.date.max:
            notices = notices.filter(date__lt=day_start(self.until + dt.timedelta(days=1)))
        if self.attachments:
            notices = notices.filter(has_attachments=True)
        if self.source == "gone":
            notices = notices.filter(source_url__in=dead_source_urls())
        return notices

    # --- Links -----------------------------------------------------------

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """Query parameters for these filters with `changes` applied (None removes one)."""
        values = {
            "category": self.category,
            "tags": self.tags,
            "site": self.site,
            "year": self.year,
            "month": self.month,
            "since": self.since,
            "until": self.until,
            "attachments": self.attachments,
            "source": self.source,
            "all_copies": self.all_copies,
        }
        values.update(changes)
        if not values["year"]:
            values["month"] = None
        pairs: list[tuple[str, str]] = []
        if values["category"] and "category" not in self.fixed:
            pairs.append(("category", values["category"].path))
        pairs += [("tag", tag.slug) for tag in values["tags"] or () if tag not in self.page_tags]
        if values["site"] and "site" not in self.fixed:
            pairs.append(("site", values["site"]))
        if values["year"] and "year" not in self.fixed:
            pairs.append(("year", str(values["year"])))
        if values["month"] and "month" not in self.fixed:
            pairs.append(("month", str(values["month"])))
        for key in ("since", "until"):
            if values[key]:
                pairs.append((key, values[key].isoformat()))
        if values["attachments"]:
            pairs.append(("attachments", "1"))
        if values["source"]:
            pairs.append(("source", values["source"]))
        if values["all_copies"]:
            pairs.append(("all", "1"))
        return [*self.carried, *pairs]

    def query(self, **changes: Any) -> str:
        """The query string (without `?`) for these filters with `changes` applied."""
        query = QueryDict(mutable=True)
        for key, value in self.params(**changes):
            query.appendlist(key, value)
        return query.urlencode()

    def active(self) -> list[ActiveFilter]:
        """The removable filters, each with the query string that drops it."""
        chips: list[ActiveFilter] = []
        if self.category and "category" not in self.fixed:
            label = _("Category: %(name)s") % {"name": self.category.label}
            chips.append(ActiveFilter(label, self.query(category=None)))
        for tag in self.tags:
            if tag in self.page_tags:
                continue
            others = tuple(t for t in self.tags if t != tag)
            label = _("Tag: %(name)s") % {"name": tag.name}
            chips.append(ActiveFilter(label, self.query(tags=others)))
        if self.site and "site" not in self.fixed:
            label = _("Site: %(name)s") % {"name": self.site}
            chips.append(ActiveFilter(label, self.query(site=None)))
        if self.year and "year" not in self.fixed:
            chips.append(ActiveFilter(year_label(self.year), self.query(year=None)))
        if self.month and "month" not in self.fixed:
            chips.append(ActiveFilter(month_label(self.year, self.month), self.query(month=None)))
        if self.since:
            label = _("From %(date)s") % {"date": date_format(self.since, "DATE_FORMAT")}
            chips.append(ActiveFilter(label, self.query(since=None)))
        if self.until:
            label = _("Until %(date)s") % {"date": date_format(self.until, "DATE_FORMAT")}
            chips.append(ActiveFilter(label, self.query(until=None)))
        if self.attachments:
            chips.append(ActiveFilter(_("With attachments"), self.query(attachments=False)))
        if self.source == "gone":
            chips.append(ActiveFilter(_("Original gone"), self.query(source=None)))
        if self.all_copies:
            chips.append(ActiveFilter(_("Every copy"), self.query(all_copies=False), narrows=False))
        return chips

    def folds_copies(self, request: HttpRequest | None = None) -> bool:
        """Whether the list shows one entry per group of near-duplicates (issue 15): unless
        `?all=1`, and only where the archive has any."""
        return not self.all_copies and has_groups(request)

    def shown(self, notices: NoticeQuerySet, request: HttpRequest | None = None) -> NoticeQuerySet:
        """Of `notices` (these filters applied), what the list shows."""
        return notices.one_per_group() if self.folds_copies(request) else notices

    def hidden(self, notices: NoticeQuerySet, request: HttpRequest | None = None) -> int:
        """How many of `notices` (these filters applied) the list leaves out as copies."""
        return notices.hidden_copies() if self.folds_copies(request) else 0


def known_params(params: QueryDict, keys: tuple[str, ...] = LINK_PARAMS) -> QueryDict:
    """A mutable copy of `params` with only the parameters in `keys`, in their order."""
    kept = QueryDict(mutable=True)
    for key, values in params.lists():
        if key in keys:
            kept.setlist(key, values)
    return kept


def listable(request: HttpRequest | None = None) -> NoticeQuerySet:
    """The notices lists may show: Notice.objects.published(), without its condition when
    every notice has a urlname (nearly always; read once per data version). Then the
    folded copies and a group's earlier members are read from the notice_group_order
    index alone: testing `urlname` reads each row, on SQLite past its body (issue 15)."""
    return Notice.objects.published() if has_unlisted(request) else Notice.objects.all()


def has_groups(request: HttpRequest | None = None) -> bool:
    """Whether any notice has a copy from another source, read once per data version: an
    archive without any (most blogs) pays nothing for folding copies."""
    return archive_facts(request).grouped


def dead_source_urls() -> QuerySet:
    """The URLs whose original is gone (SourceCheck.dead_q): few rows, as a subquery."""
    return SourceCheck.objects.filter(SourceCheck.dead_q()).values("url")


def gone_count(notices: QuerySet[Notice]) -> int:
    """How many of `notices` have an original that is gone: one grouped query (a COUNT over
    the semi-join of the notices with the dead URLs), for the filter's link."""
    return notices.filter(source_url__in=dead_source_urls()).order_by().count()


def notice_ids_in_category(category: Category) -> QuerySet:
    """Ids of the notices filed in `category` or anywhere below it."""
    subtree = Category.objects.filter(
        Q(pk=category.pk) | Q(path__startswith=f"{category.path}/")
    ).values("id")
    return Notice.categories.through.objects.filter(category_id__in=subtree).values("notice_id")


def period_bounds(year: int, month: int | None = None) -> tuple[dt.datetime, dt.datetime | None]:
    """The first instant of a year or month and of the period after it (None after 9999):
    calendar periods in the site's time zone, as dates are shown, and a plain range the
    (date, id) index serves."""
    start = day_start(dt.date(year, month or 1, 1))
    if month is None or month == 12:
        end_year, end_month = year + 1, 1
    else:
        end_year, end_month = year, month + 1
    if end_year > 9999:
        return start, None
    return start, day_start(dt.date(end_year, end_month, 1))


def year_label(year: int) -> str:
    return pgettext("archive year", "%(year)s") % {"year": year}


def month_label(year: int, month: int) -> str:
    """ "2023年5月" in Chinese, "May 2023" in English: the locale's year-month format."""
    return date_format(dt.date(year, month, 1), "YEAR_MONTH_FORMAT")


def month_in_year_label(year: int, month: int) -> str:
    """ "5月" in Chinese, "May" in English: a month under its year's heading."""
    # Translators: a Django date format for a month without its year ("n月" in Chinese).
    return date_format(dt.date(year, month, 1), pgettext("month in a year", "F"))


class NoSuchScope(Http404):
    """The category, tag or site a page's own URL names does not exist (a tag page then
    looks for an old name of the tag: views._redirect_to_tag)."""


SCOPES = ("category", "tag", "site")


def scoped_filters(params: QueryDict, kind: str | None = None, key: str = "") -> NoticeFilters:
    """The filters of a list or feed: the query string's, within the category (by path), tag
    (by slug) or site a category, tag or site page or feed names in its URL (`kind`, `key`).
    The one lookup views.py and feeds.py share; raises NoSuchScope for an unknown `key`."""
    if kind is None:
        return NoticeFilters.from_params(params)
    if kind == "category":
        category = Category.objects.filter(path=key.strip("/")).first()
        if category is None:
            raise NoSuchScope("No such category.")
        return NoticeFilters.from_params(params, category=category)
    if kind == "tag":
        tag = Tag.objects.filter(slug=key).first()
        if tag is None:
            raise NoSuchScope("No such tag.")
        return NoticeFilters.from_params(params, tags=(tag,))
    if kind == "site":
        if not Notice.objects.filter(site=key).exists():
            raise NoSuchScope("No such site.")
        return NoticeFilters.from_params(params, site=key)
    raise ValueError(f"not one of {SCOPES}: {kind!r}")


def category_or_404(path: str) -> Category:
    category = Category.objects.filter(path=path.strip("/")).first()
    if category is None:
        raise Http404("No such category.")
    return category


def _tags_for(slugs: list[str]) -> tuple[Tag, ...]:
    wanted = list(dict.fromkeys(slug for slug in slugs if slug))
    if len(wanted) > MAX_TAGS:
        raise Http404(f"At most {MAX_TAGS} tags.")
    found = {tag.slug: tag for tag in Tag.objects.filter(slug__in=wanted)}
    if len(found) != len(wanted):
        raise Http404("No such tag.")
    return tuple(found[slug] for slug in wanted)


def site_or_404(site: str) -> str:
    if not Notice.objects.filter(site=site).exists():
        raise Http404("No such site.")
    return site


def day_start(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the site's time zone, as dates are shown.

    Midnight of 0001-01-01 east of UTC is before the first datetime Python has (the database
    layer converts to UTC: OverflowError, issue 11): such an edge stands for "the beginning
    of time", and the same at the far end."""
    start = timezone.make_aware(
        dt.datetime(day.year, day.month, day.day), timezone.get_current_timezone()
    )
    try:
        start.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.min if day.year < 5000 else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)
    return start


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise Http404("Not a valid date (YYYY-MM-DD).") from None


def _number(text: str, pattern: re.Pattern[str], low: int, high: int) -> int:
    if not pattern.match(text) or not low <= int(text) <= high:
        raise Http404("Not a valid number.")
    return int(text)


# --- Facets ------------------------------------------------------------------

FACETS = ("categories", "tags", "sites", "years", "months", "attachments", "originals")
# The facet page (views.facet_detail) lists at most this many values: more would not be read.
FACET_PAGE_LIMIT = 1000


class Facets(dict):
    """Facet name -> values, as before; `more` maps a facet with more values than shown to
    the URL of its own page (notices:facet), for the "更多" link."""

    def __init__(self, *args: Any, more: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.more = more or {}


def facet_counts(
    notices: QuerySet[Notice],
    filters: NoticeFilters | None = None,
    *,
    limit: int | None = None,
    listed: bool = False,
    ids_sql: tuple[str, list] | None = None,
    request: HttpRequest | None = None,
) -> Facets:
    """Counts of `notices` (already filtered) by category, tag, site, year and, within a
    year, month: a fixed number of grouped queries whatever the number of rows, or, when
    `listed` says `notices` is filters.apply(Notice.objects.published()) and one stored
    scope holds that list, a few reads of the stored counts (notices/counts.py).

    Each value is a dict with `label`, `value`, `count`, `url` (the value's own page) and,
    when `filters` is given, `query` (the query string adding this value to the filters).
    Categories are one level below the filtered category (roots when there is none).

    What cannot narrow the list is left out, so each dimension is offered once (issue 12):
    a facet whose only value holds every notice, tags named like a site (the source facet
    has them), and categories that are a source under another name (same label and count).

    `ids_sql` (SQL and parameters selecting the ids of `notices`, a search's matches) has
    the numbers grouped by hand-written queries over those ids (_Listed).
    """
    filters = filters or NoticeFilters()
    limit = limit or FACET_LIMIT
    if ids_sql:
        source: _Grouped | _Stored = _Listed(notices, ids_sql, request)
    else:
        source = _source(notices, filters, listed, request)
    values: dict[str, list[dict]] = {}
    more: dict[str, bool] = {}
    periods = _period_values(source, filters)
    total = sum(value["count"] for value in periods)
    values["sites"], more["sites"] = _site_facet(source, filters, limit)
    values["categories"], more["categories"] = _category_facet(
        source, filters, max(limit, CATEGORY_FACET_LIMIT), mirrors=values["sites"], request=request
    )
    values["tags"], more["tags"] = _tag_facet(source, filters, limit)
    values["years"] = [] if filters.year else periods
    if filters.year:
        values["months"] = [] if filters.month else periods
    values["attachments"] = _attachment_facet(source, filters)
    originals = _originals_facet(notices, filters, request)
    if originals:  # the key appears once the link checker found a dead original
        values["originals"] = originals
    facets = Facets(more={name: facet_page_url(name, filters) for name, has in more.items() if has})
    for name in FACETS:  # the order templates and JSON had
        if name in values:
            shown = values[name]
            narrows = len(shown) > 1 or more.get(name) or any(v["count"] < total for v in shown)
            facets[name] = shown if narrows else []
    return facets


def facet_values(
    notices: QuerySet[Notice],
    filters: NoticeFilters,
    facet: str,
    *,
    by_name: bool = False,
    listed: bool = False,
    request: HttpRequest | None = None,
) -> tuple[list[dict], bool]:
    """Every value of one facet (at most FACET_PAGE_LIMIT, then True for "cut"), by count
    or by name (pinyin); the facet page's rows. The same rules as facet_counts (`listed`
    too), except that nothing is hidden for covering every notice."""
    limit = FACET_PAGE_LIMIT
    source = _source(notices, filters, listed, request)
    if facet == "categories":
        rows, cut = _category_facet(source, filters, limit, mirrors=[], request=request)
    elif facet == "tags":
        rows, cut = _tag_facet(source, filters, limit)
    elif facet == "sites":
        rows, cut = _site_facet(source, filters, limit)
    elif facet in ("years", "months"):
        if (facet == "months") != bool(filters.year):
            return [], False  # months are counted within a year, years without one
        rows, cut = _period_values(source, filters), False
    else:
        raise Http404("No such facet.")
    if by_name:
        rows = sorted_by_name(rows, lambda row: row["label"])
    return rows, cut


def facet_page_url(facet: str, filters: NoticeFilters) -> str:
    query = facet_page_query(filters)
    return reverse("notices:facet", args=[facet]) + (f"?{query}" if query else "")


def facet_page_query(filters: NoticeFilters) -> str:
    """The query string of the facet page for these filters: the page's own filters too (a
    tag page's tag), since the facet page has none of its own; a search keeps its `q`."""
    unfixed = replace(
        filters,
        fixed=frozenset(),
        page_tags=(),
        carried=tuple((key, value) for key, value in filters.carried if key == "q"),
    )
    return unfixed.query()


class _Grouped:
    """The numbers facets are made of, by grouped queries over the notices (any filters, a
    search's matches)."""

    def __init__(self, notices: QuerySet[Notice], request: HttpRequest | None = None):
        self.notices = notices
        self.request = request
        # Unfiltered, the link tables are counted whole: no IN (all notice ids) to check.
        self.ids = notices.order_by().values("pk") if notices.query.where else None

    def periods(self, filters: NoticeFilters) -> list[tuple[Period, int]]:
        if not filters.year:
            return period_counts(self.notices, by_month=False)
        return period_counts(self.notices, years=(filters.year, filters.year))

    def sites(self, limit: int) -> list[tuple[str, int]]:
        """The `limit` sites with the most notices, by count then name."""
        return list(
            self.notices.exclude(site="")
            .order_by()
            .values_list("site")
            .annotate(count=Count("pk"))
            .order_by("-count", "site")[:limit]
        )

    def leaf_counts(self) -> dict[int, int]:
        """Links per category the notices are filed under (grouped on the link table alone)."""
        links = Notice.categories.through.objects.all()
        if self.ids is not None:
            links = links.filter(notice_id__in=self.ids)
        return dict(links.values_list("category_id").annotate(count=Count("notice_id")))

    def with_attachments(self) -> int:
        """One count over the (has_attachments, date, id) index's range."""
        return self.notices.filter(has_attachments=True).order_by().count()

    def site_tag_ids(self) -> list[int]:
        """The tags named like a site, once per data version: as a subquery in each tags
        facet they read the site of every notice (10 ms at 100,000, issue 13)."""
        site_tags = Tag.objects.filter(name__in=Notice.objects.order_by().values("site"))
        return cached(
            "site-tag-ids",
            [],
            lambda: sorted(site_tags.values_list("id", flat=True)),
            request=self.request,
        )

    def tags(self, excluded: list[int], limit: int) -> list[tuple[int, int]]:
        """The `limit` tags on most notices, by count then id, leaving out `excluded` and
        the tags named like a site (the seed tags every notice with its site: they only
        repeat the source facet): one subquery on the tag names, no join per link."""
        links = TaggedNotice.objects.exclude(tag_id__in=[*excluded, *self.site_tag_ids()])
        if self.ids is not None:
            links = links.filter(content_object_id__in=self.ids)
        return list(
            links.values_list("tag_id")
            .annotate(count=Count("id"))
            .order_by("-count", "tag_id")[:limit]
        )


class _Listed(_Grouped):
    """The same numbers for notices given by the SQL of their ids (a search's matches, one
    parameter): each a hand-written query, since building the ORM's (a nested CASE of 100
    periods above all) cost more CPU than the database took to run them (issue 13)."""

    def __init__(
        self, notices: QuerySet[Notice], ids_sql: tuple[str, list], request: HttpRequest | None
    ):
        super().__init__(notices, request)
        self.ids_sql, self.ids_params = ids_sql
        # (year filtered, periods, counts by site, period and has_attachments): _by_period().
        self._grouped: tuple[int | None, list[Period], list[tuple]] | None = None

    def _rows(self, sql: str, params: Iterable = (), *, leading: Iterable = ()) -> list[tuple]:
        """The rows of `sql`, its {ids} the notices' ids; `leading`: parameters before them."""
        with connection.cursor() as cursor:
            sql = sql.format(ids=self.ids_sql)
            cursor.execute(sql, [*leading, *self.ids_params, *params])
            return cursor.fetchall()

    def periods(self, filters: NoticeFilters) -> list[tuple[Period, int]]:
        periods, rows = self._by_period(filters.year)
        by_period: dict[int, int] = {}
        for _site, index, _attachments, count in rows:
            if index >= 0:
                by_period[index] = by_period.get(index, 0) + count
        return [(periods[index], count) for index, count in sorted(by_period.items())]

    def _by_period(self, year: int | None) -> tuple[list[Period], list[tuple]]:
        """The matches counted by site, period (years, or the months of `year`; -1 outside
        them) and has_attachments: one pass over their rows for three facets, each of which
        read every match's row (issue 13). The years span the archive's (kept per data
        version), not the matches': their MIN/MAX was one more query. Sites come in the
        database's order, which breaks ties in sites()."""
        if self._grouped is not None and self._grouped[0] == year:
            return self._grouped[1], self._grouped[2]
        years = (year, year) if year else published_years(self.request)
        periods: list[Period] = []
        period, leading = "-1", []
        if years is not None:
            periods, starts, end = _periods_and_starts(years, by_month=bool(year))
            case, order = _period_case_sql(len(starts))
            adapt = connection.ops.adapt_datetimefield_value
            outside = '"date" < %s' + (' OR "date" >= %s' if end is not None else "")
            period = f"CASE WHEN {outside} THEN -1 ELSE {case} END"
            leading = [
                adapt(starts[0]),
                *([adapt(end)] if end else []),
                *[adapt(starts[i]) for i in order],
            ]
        # SQLite looks ids up in the table, whose rows it then reads past their bodies.
        covering = " INDEXED BY notice_facet_columns" if connection.vendor == "sqlite" else ""
        rows = self._rows(
            f"SELECT site, {period}, has_attachments, COUNT(*) FROM {NOTICE}{covering}"
            " WHERE id IN ({ids}) GROUP BY 1, 2, 3 ORDER BY 1",
            leading=leading,
        )
        self._grouped = (year, periods, rows)
        return periods, rows

    def _any_grouped(self) -> list[tuple]:
        """The rows of _by_period(), for any periods: sites and attachments count the same."""
        return self._by_period(self._grouped[0] if self._grouped is not None else None)[1]

    def sites(self, limit: int) -> list[tuple[str, int]]:
        by_site: dict[str, int] = {}
        for site, _index, _attachments, count in self._any_grouped():
            if site:
                by_site[site] = by_site.get(site, 0) + count
        # Stable: equal counts keep the database's order of sites (ORDER BY count DESC, site).
        return sorted(by_site.items(), key=lambda row: -row[1])[:limit]

    def leaf_counts(self) -> dict[int, int]:
        return dict(
            self._rows(
                f"SELECT category_id, COUNT(*) FROM {NOTICE_CATEGORIES}"
                " WHERE notice_id IN ({ids}) GROUP BY category_id"
            )
        )

    def with_attachments(self) -> int:
        return sum(count for *_, attachments, count in self._any_grouped() if attachments)

    def tags(self, excluded: list[int], limit: int) -> list[tuple[int, int]]:
        left_out = [*excluded, *self.site_tag_ids()]
        not_in = f"AND tag_id NOT IN ({', '.join(['%s'] * len(left_out))})" if left_out else ""
        return self._rows(
            f"SELECT tag_id, COUNT(*) FROM {TAGGED_NOTICE} WHERE content_object_id IN ({{ids}})"
            f" {not_in} GROUP BY tag_id ORDER BY 2 DESC, 1 LIMIT %s",
            [*left_out, limit],
        )


class _Stored:
    """The same numbers read from the stored counts of one scope (notices/counts.py): its
    rows in one query instead of grouping every notice of the list."""

    def __init__(self, scope: str, request: HttpRequest | None = None):
        self.scope = scope
        self.request = request
        self._values: dict[str, list[tuple[str, int]]] | None = None

    def _facet(self, facet: str) -> list[tuple[str, int]]:
        if self._values is None:
            self._values = stored_values(self.scope, self.request)
        return self._values.get(facet, [])

    def periods(self, filters: NoticeFilters) -> list[tuple[Period, int]]:
        months = counts.months_of(self._facet("m"))
        if filters.year:
            return [(period, count) for period, count in months if period[0] == filters.year]
        years: dict[Period, int] = {}
        for (year, _month), count in months:
            years[(year, None)] = years.get((year, None), 0) + count
        return list(years.items())

    def sites(self, limit: int) -> list[tuple[str, int]]:
        return sorted(self._facet("s"), key=lambda row: (-row[1], row[0]))[:limit]

    def leaf_counts(self) -> dict[int, int]:
        return {int(value): count for value, count in self._facet("c")}

    def with_attachments(self) -> int:
        return sum(count for _value, count in self._facet(counts.ATTACHMENTS))

    def tags(self, excluded: list[int], limit: int) -> list[tuple[int, int]]:
        site_tags = Tag.objects.filter(name__in=counts.site_names()).values_list("id", flat=True)
        left_out = {*excluded, *site_tags}
        rows = [(int(value), count) for value, count in self._facet("t")]
        kept = [row for row in rows if row[0] not in left_out]
        return sorted(kept, key=lambda row: (-row[1], row[0]))[:limit]


def _source(
    notices: QuerySet[Notice],
    filters: NoticeFilters,
    listed: bool,
    request: HttpRequest | None = None,
) -> _Grouped | _Stored:
    scope = filters.count_scope() if listed else None
    return _Grouped(notices, request) if scope is None else _Stored(scope, request)


# A list holding at least this share of the notices is walked along the date index (`wide`).
WIDE_SHARE = 0.02


def is_wide(filters: NoticeFilters) -> bool:
    """Whether the list of these filters is a category or tag list holding so many notices
    that walking the (date, id) index finds a page sooner than sorting the list's rows."""
    scope = filters.count_scope()
    if scope is None or not (filters.category or filters.tags):
        return False
    return counts.total(scope) >= WIDE_SHARE * counts.total(counts.ALL)


def list_count(filters: NoticeFilters, request: HttpRequest | None = None) -> int | None:
    """How many notices the list of these filters holds, from the stored counts; None when
    no stored scope holds it (the list is counted by a query then)."""
    scope = filters.count_scope()
    if scope is None:
        return None
    return sum(count for _value, count in stored_values(scope, request).get("n", []))


def stored_values(scope: str, request: HttpRequest | None) -> dict[str, list[tuple[str, int]]]:
    """counts.scope_values(scope), kept per data version: the list's count and its facets
    read the same rows."""
    return cached("scope-values", [scope], lambda: counts.scope_values(scope), request=request)


def _labelled_categories(request: HttpRequest | None) -> dict[int, tuple[str, str, str]]:
    """Every category's path, name and label, kept per data version: categories are few, and
    naming a facet's took three queries (their paths, rows, labels) each time (issue 13)."""

    def compute() -> dict[int, tuple[str, str, str]]:
        every = list(Category.objects.with_children())
        label_categories(every)
        return {category.id: (category.path, category.name, category.label) for category in every}

    return cached("labelled-categories", [], compute, request=request)


def _category_facet(
    source: _Grouped | _Stored,
    filters: NoticeFilters,
    limit: int,
    *,
    mirrors: list[dict],
    request: HttpRequest | None = None,
) -> tuple[list[dict], bool]:
    parent = filters.category
    # Counts per category the notices are filed under, then summed up to the shown level
    # through the category paths: one query instead of one per sub-category. (A notice
    # filed twice under one branch counts twice; archive documents carry one category path.)
    leaf_counts = source.leaf_counts()
    known = _labelled_categories(request)
    depth = parent.path.count("/") + 2 if parent else 1
    below = f"{parent.path}/" if parent else ""
    counts: dict[str, int] = {}
    for category_id, count in leaf_counts.items():
        path = known[category_id][0] if category_id in known else None
        if path is not None and path.startswith(below):
            branch = "/".join(path.split("/")[:depth])
            counts[branch] = counts.get(branch, 0) + count
    by_path: dict[str, Category] = {}
    for category_id, (path, name, label) in known.items():
        if path in counts:
            by_path[path] = Category(id=category_id, name=name, path=path)
            by_path[path]._label = label
    # A category that is a source under another name ("nyou.edu.cn" holding exactly the
    # notices of 南洋大学) is offered once, as the source.
    sources = {(value["label"], value["count"]) for value in mirrors}
    shown = [
        (path, count)
        for path, count in counts.items()
        if path in by_path and (by_path[path].label, count) not in sources
    ]
    shown.sort(key=lambda item: (-item[1], name_key(by_path[item[0]].label)))
    return [
        _facet_value(
            filters,
            label=by_path[path].label,
            value=path,
            count=count,
            url=by_path[path].get_absolute_url(),
            change={"category": by_path[path]},
        )
        for path, count in shown[:limit]
    ], len(shown) > limit


def _tag_facet(
    source: _Grouped | _Stored, filters: NoticeFilters, limit: int
) -> tuple[list[dict], bool]:
    # Counted without the tags' names, names fetched for the few shown.
    top = source.tags([tag.id for tag in filters.tags], limit + 1)
    shown = dict(top[:limit])
    tags = Tag.objects.in_bulk(list(shown))
    rows = sorted(
        ((tag_id, tags[tag_id].name, tags[tag_id].slug, count) for tag_id, count in shown.items()
         if tag_id in tags),
        key=lambda row: (-row[3], name_key(row[1])),
    )  # fmt: skip
    return [
        _facet_value(
            filters,
            label=name,
            value=slug,
            count=count,
            url=url_maker("notices:tag")(slug),
            change={"tags": (*filters.tags, Tag(id=tag_id, name=name, slug=slug))},
        )
        for tag_id, name, slug, count in rows
    ], len(top) > limit


def _site_facet(
    source: _Grouped | _Stored, filters: NoticeFilters, limit: int
) -> tuple[list[dict], bool]:
    if filters.site:
        return [], False
    rows = source.sites(limit + 1)
    shown = sorted(rows[:limit], key=lambda row: (-row[1], name_key(row[0])))
    return [
        _facet_value(
            filters,
            label=site,
            value=site,
            count=count,
            url=url_maker("notices:site")(site),
            change={"site": site},
        )
        for site, count in shown
    ], len(rows) > limit


def _attachment_facet(source: _Grouped | _Stored, filters: NoticeFilters) -> list[dict]:
    """有附件 with how many notices of the list have attachments (one value; none when the
    filter is on: its chip says so)."""
    if filters.attachments:
        return []
    count = source.with_attachments()
    if not count:
        return []
    return [
        _facet_value(
            filters,
            label=_("With attachments"),
            value="1",
            count=count,
            url=reverse("notices:list") + "?attachments=1",
            change={"attachments": True},
        )
    ]


def _originals_facet(
    notices: QuerySet[Notice], filters: NoticeFilters, request: HttpRequest | None = None
) -> list[dict]:
    """ "原文已失效 N": the notices of the list whose original is gone (issue 15), once the
    link checker found any; one query when it found none (none with a request: kept per
    data version), two when it did."""
    if filters.source or not _dead_sources_exist(request):
        return []
    count = gone_count(notices)
    if not count:
        return []
    return [
        _facet_value(
            filters,
            label=_("Original gone"),
            value="gone",
            count=count,
            url=reverse("notices:list") + "?source=gone",
            change={"source": "gone"},
        )
    ]


def _dead_sources_exist(request: HttpRequest | None) -> bool:
    """Whether the link checker found any original gone (it bumps the data version)."""
    return archive_facts(request).dead_sources


def _period_values(source: _Grouped | _Stored, filters: NoticeFilters) -> list[dict]:
    """Years (months within a filtered year), newest first like the archive; their counts
    add up to the number of notices, which is how facet_counts knows it without a count."""
    if not filters.year:
        return [
            _facet_value(
                filters,
                label=year_label(year),
                value=year,
                count=count,
                url=reverse("notices:archive-year", args=[year]),
                change={"year": year},
            )
            for (year, _month), count in reversed(source.periods(filters))
        ]
    return [
        _facet_value(
            filters,
            label=month_in_year_label(year, month),
            value=month,
            count=count,
            url=reverse("notices:archive-month", args=[year, month]),
            change={"month": month},
        )
        for (year, month), count in reversed(source.periods(filters))
    ]


Period = tuple[int, int | None]


def period_counts(
    notices: QuerySet[Notice], *, by_month: bool = True, years: tuple[int, int] | None = None
) -> list[tuple[Period, int]]:
    """Notices per calendar year or month (site time zone), oldest first, empty periods left
    out: at most two queries whatever the number of rows.

    Extracting the local year/month of every row is a Python function call per row on
    SQLite (350 ms for 20,000 notices); instead each row is placed by comparing its date with
    the period boundaries, as a nested CASE that halves the range at each level (about
    log2(periods) comparisons a row, in the database, on either backend).
    """
    notices = notices.order_by()
    if years is None:
        bounds = notices.aggregate(first=Min("date"), last=Max("date"))
        if bounds["first"] is None:
            return []
        years = (timezone.localtime(bounds["first"]).year, timezone.localtime(bounds["last"]).year)
    periods, starts, end = _periods_and_starts(years, by_month=by_month)
    in_range = notices.filter(date__gte=starts[0])
    if end is not None:
        in_range = in_range.filter(date__lt=end)
    case, order = _period_case_sql(len(starts), f'{connection.ops.quote_name(NOTICE)}."date"')
    adapt = connection.ops.adapt_datetimefield_value
    period = RawSQL(case, [adapt(starts[i]) for i in order], output_field=IntegerField())
    rows = in_range.annotate(period=period).values_list("period").annotate(count=Count("pk"))
    return [(periods[index], count) for index, count in sorted(rows)]


def published_years(request: HttpRequest | None = None) -> tuple[int, int] | None:
    """The first and last year (site time zone) of the published notices, kept per data
    version; None without notices."""

    def compute() -> tuple[int, int] | tuple[()]:
        bounds = Notice.objects.published().aggregate(first=Min("date"), last=Max("date"))
        if bounds["first"] is None:
            return ()  # not None: cached() would take that for a miss
        return (timezone.localtime(bounds["first"]).year, timezone.localtime(bounds["last"]).year)

    years = cached("published-years", [], compute, request=request)
    return years or None


def _periods_and_starts(
    years: tuple[int, int], *, by_month: bool
) -> tuple[list[Period], list[dt.datetime], dt.datetime | None]:
    """The years or months from years[0] to years[1], the first instant of each, and the
    end of the last (None after 9999)."""
    periods: list[Period] = [
        (year, month)
        for year in range(years[0], years[1] + 1)
        for month in (range(1, 13) if by_month else [None])
    ]
    starts = [period_bounds(*period)[0] for period in periods]
    return periods, starts, period_bounds(*periods[-1])[1]


@functools.cache
def _period_case_sql(count: int, column: str = '"date"') -> tuple[str, tuple[int, ...]]:
    """The index i with starts[i] <= column < starts[i + 1] as SQL text for `count` periods
    (a nested CASE halving the range at each level), and the indexes of the starts its
    placeholders take, in order: the text depends on the number of periods alone, so it is
    built once (building the ORM's Case of 100 periods cost more CPU than running it)."""
    order: list[int] = []

    def index(low: int, high: int) -> str:
        if high - low == 1:
            return str(low)
        middle = (low + high) // 2
        order.append(middle)
        below = index(low, middle)
        return f"CASE WHEN {column} < %s THEN {below} ELSE {index(middle, high)} END"

    return index(0, count), tuple(order)


def _facet_value(
    filters: NoticeFilters, *, label: str, value: Any, count: int, url: str, change: dict
) -> dict[str, Any]:
    return {
        "label": label,
        "value": value,
        "count": count,
        "url": url,
        "query": filters.query(**change),
    }
