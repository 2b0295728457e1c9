"""The reading pages: request → filters (notices/filters.py) → rows → page, JSON or CSV.

- Lists (home, category, tag, site, year, month) go through `render_notice_list`; they and
  search results share `list_context` (page, chips, facets, format and feed links), one
  pagination include and one notice-item include; JSON comes from notices/serializers.py.
- Indexes (categories, tags, sites, archive, one facet's values) build their entries once:
  the template shows them and `serializers.index_json` is their JSON.
- The detail page renders the notice's part once per data version (`_detail_parts`, four
  queries) and is then two queries: the data version and the notice (issue 13).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any, NamedTuple
from urllib.parse import unquote, urlencode

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.views.decorators.http import condition, require_safe
from taggit.models import Tag

from notices import counts as stored_counts
from notices import deadlines, grouping
from notices.caching import cached, queryset_key, raw_datetime, request_version
from notices.filters import (
    DROPPED_PARAMS,
    FACET_PAGE_LIMIT,
    Facets,
    NoSuchScope,
    NoticeFilters,
    facet_counts,
    facet_page_query,
    facet_values,
    is_wide,
    known_params,
    list_count,
    listable,
    month_in_year_label,
    month_label,
    period_bounds,
    scoped_filters,
    year_label,
)
from notices.links import url_maker
from notices.models import (
    Category,
    FacetCount,
    Notice,
    NoticeQuerySet,
    SourceCheck,
    TaggedNotice,
    label_categories,
    label_trails,
)
from notices.old_urls import find_post
from notices.pagination import paginate_notices
from notices.rendering import plain_text
from notices.search import SORTS as SEARCH_SORTS
from notices.search import (
    ParsedQuery,
    SearchResults,
    highlight,
    highlight_html,
    matched_ids_sql,
    parse_query,
    search_notices,
    snippet,
)
from notices.serializers import (
    csv_response,
    filters_json,
    format_url,
    index_json,
    json_response,
    list_ids,
    notice_detail_json,
    page_json,
    requested_format,
    result_ids,
    search_page_json,
    wants_json,
)
from notices.sorting import sorted_by_name
from notices.toc import outline

RELATED_COUNT = 5
RELATED_POOL = 200
SEARCH_FACET_LIMIT = 5000
# A snippet is taken from this much of a hit's body HTML: matches further in show the start.
SNIPPET_HTML_CHARS = 20_000
# A detail page's rendered notice is kept when its body is at most this long (as
# caching.PAGE_MAX_BYTES for whole pages).
DETAIL_CACHE_MAX_CHARS = 100_000
SORT_LABELS = {
    "relevance": gettext_lazy("Best match"),
    "newest": gettext_lazy("Newest first"),
    "oldest": gettext_lazy("Oldest first"),
}


def paginate(
    request: HttpRequest, notices: NoticeQuerySet, filters: NoticeFilters, hidden: int
) -> Page:
    """`notices` (what the list shows of filters.apply's rows, `hidden` copies left out) in
    pages: cached count and keyset-sought deep pages (notices/pagination.py, issue 5); the
    count of a list the stored counts hold is read from them (notices/counts.py, issue 13)."""
    scope_counted = filters.count_scope() is not None
    return paginate_notices(
        request, notices.for_list(), settings.NOTICES_PAGE_SIZE, orphans=3,
        counter=(lambda: list_count(filters, request) - hidden) if scope_counted else None,
    )  # fmt: skip


# --- Notice lists --------------------------------------------------------------


def list_context(
    request: HttpRequest,
    page: Page,
    filters: NoticeFilters,
    facets: dict[str, Any],
    feeds: tuple[str, str],
) -> dict[str, Any]:
    """What every page of notices (a list, search results) gives its template: the page, the
    filters and their chips, the facets, and its JSON, CSV, Atom and RSS addresses."""
    chips = filters.active()
    return {
        "page": page,
        "filters": filters,
        "active_filters": chips,
        # "Filtered notices" only when a chip narrows the list (not for "every copy")
        "narrowed": any(chip.narrows for chip in chips),
        "clear_query": filters.query(
            category=None,
            tags=(),
            site="",
            year=None,
            month=None,
            attachments=False,
            source=None,
            all_copies=False,
        ),
        "facets": facets,
        "json_url": format_url(request, "json"),
        "csv_url": format_url(request, "csv"),
        "feed_atom": feeds[0],
        "feed_rss": feeds[1],
    }


def _feed_urls(kind: str, args: list[str], query: str = "") -> tuple[str, str]:
    """The Atom and RSS addresses `notices:<kind>-atom` / `-rss`, with a query string."""
    suffix = f"?{query}" if query else ""
    return (
        reverse(f"notices:{kind}-atom", args=args) + suffix,
        reverse(f"notices:{kind}-rss", args=args) + suffix,
    )


def render_notice_list(
    request: HttpRequest,
    template: str,
    filters: NoticeFilters,
    context: dict[str, Any],
    *,
    feed: tuple[str, str] | None = None,
) -> HttpResponse:
    """The one way a filtered, paginated notice list becomes HTML, JSON or CSV."""
    wide = cached("wide", [filters.count_scope()], lambda: is_wide(filters), request=request)
    matching = filters.apply(listable(request), wide=wide)
    # One entry per group of near-duplicates unless ?all=1 (issue 15): the copies left out
    # are counted once per data version, from the grouped notices alone.
    notices = filters.shown(matching, request)
    matching_key = queryset_key(matching)  # its SQL, compiled once for both cache keys
    hidden = cached(
        "hidden-copies",
        [matching_key, filters.all_copies],
        lambda: filters.hidden(matching, request),
        request=request,
    )
    page = paginate(request, notices, filters, hidden)
    if requested_format(request) == "csv":  # rows only: no facets to count
        return csv_response(request, "notices", page, list_ids(notices))
    # Read from the stored counts when one scope holds the list, else grouped over every
    # matching row; either way once per data version (issues 5, 13). Facets count every
    # notice, copies included: the stored counts do.
    facets = cached(
        "facets",
        [matching_key, filters.query(), get_language()],
        lambda: facet_counts(matching, filters, listed=True, request=request),
        request=request,
    )
    if wants_json(request):
        return json_response(page_json(request, page, filters, facets, hidden_copies=hidden))
    if feed:  # the page's own feeds: notices:<kind>-atom / -rss with its key
        kind, key = feed
        feeds = _feed_urls(kind, [key])
    else:  # the site's feeds, narrowed by the same filters as the page
        feeds = _feed_urls("feed", [], filters.query())
    context = {
        **list_context(request, page, filters, facets, feeds),
        "cache_version": request_version(request).token,
        "hidden_copies": hidden,
        "all_copies_query": filters.query(all_copies=True),
        **context,
    }
    return render(request, template, context)


@require_safe
def notice_list(request: HttpRequest) -> HttpResponse:
    filters = scoped_filters(request.GET)
    return render_notice_list(request, "notices/notice_list.html", filters, {})


@require_safe
def category_detail(request: HttpRequest, path: str) -> HttpResponse:
    filters = scoped_filters(request.GET, "category", path)
    category = filters.category
    _label_trails_cached(request, [category])  # breadcrumbs named as readers know them
    return render_notice_list(
        request,
        "notices/category_detail.html",
        filters,
        {"category": category, "ancestors": category.trail[:-1], "feed_title": category.label},
        feed=("category", category.path),
    )


@require_safe
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        filters = scoped_filters(request.GET, "tag", slug)
    except NoSuchScope:
        return _redirect_to_tag(request, slug)
    tag = filters.page_tags[0]
    return render_notice_list(
        request,
        "notices/tag_detail.html",
        filters,
        {"tag": tag, "feed_title": tag.name},
        feed=("tag", tag.slug),
    )


def _redirect_to_tag(request: HttpRequest, slug: str) -> HttpResponse:
    """Old links name the tag (Hexo's /tags/<name>/) or were percent-encoded twice."""
    name = unquote(slug)
    if "\x00" in name:  # `%00` twice encoded: PostgreSQL cannot compare NUL (issue 11)
        raise Http404("No such tag.")
    tag = Tag.objects.filter(Q(name=name) | Q(slug=name) | Q(name__iexact=name)).first()
    if tag is None:
        raise Http404("No such tag.")
    target = reverse("notices:tag", args=[tag.slug])
    query = known_params(request.GET).urlencode()
    return redirect(f"{target}?{query}" if query else target, permanent=True)


@require_safe
def site_detail(request: HttpRequest, site: str) -> HttpResponse:
    filters = scoped_filters(request.GET, "site", site)
    return render_notice_list(
        request,
        "notices/site_detail.html",
        filters,
        {"site": site, "feed_title": site},
        feed=("site", site),
    )


@require_safe
def archive_year(request: HttpRequest, year: int) -> HttpResponse:
    if not 1 <= year <= 9999:
        raise Http404("No such year.")
    older, newer = _period_neighbours(year)
    filters = NoticeFilters.from_params(request.GET, year=year)
    return render_notice_list(
        request,
        "notices/archive_period.html",
        filters,
        {
            "period_title": year_label(year),
            "year": year,
            "older_period": older and (year_label(older.year), _archive_url(older.year)),
            "newer_period": newer and (year_label(newer.year), _archive_url(newer.year)),
        },
    )


@require_safe
def archive_month(request: HttpRequest, year: int, month: int) -> HttpResponse:
    if not (1 <= year <= 9999 and 1 <= month <= 12):
        raise Http404("No such month.")
    older, newer = _period_neighbours(year, month)
    filters = NoticeFilters.from_params(request.GET, year=year, month=month)
    return render_notice_list(
        request,
        "notices/archive_period.html",
        filters,
        {
            "period_title": month_label(year, month),
            "year": year,
            "month": month,
            "year_url": _archive_url(year),
            "year_title": year_label(year),
            "older_period": older
            and (month_label(older.year, older.month), _archive_url(older.year, older.month)),
            "newer_period": newer
            and (month_label(newer.year, newer.month), _archive_url(newer.year, newer.month)),
        },
    )


def _period_neighbours(
    year: int, month: int | None = None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The dates that lead to the older and newer periods; 404 for a period with no notices."""
    start, end = period_bounds(year, month)
    notices = Notice.objects.published().filter(date__gte=start)
    if end is not None:
        notices = notices.filter(date__lt=end)
    if not notices.exists():
        raise Http404("No notices in this period.")
    return _neighbour_period(start, end, older=True), _neighbour_period(start, end, older=False)


def _neighbour_period(
    start: dt.datetime, end: dt.datetime | None, *, older: bool
) -> dt.datetime | None:
    """The local date of the nearest notice before `start` (older) or from `end` (newer)."""
    notices = Notice.objects.published()
    if older:
        date = notices.filter(date__lt=start).order_by("-date").values_list("date", flat=True)
    elif end is None:
        return None
    else:
        date = notices.filter(date__gte=end).order_by("date").values_list("date", flat=True)
    found = date.first()
    return timezone.localtime(found) if found else None


def _archive_url(year: int, month: int | None = None) -> str:
    if month is None:
        return reverse("notices:archive-year", args=[year])
    return reverse("notices:archive-month", args=[year, month])


# --- Indexes -------------------------------------------------------------------


def _index_response(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    key: str,
    *,
    drop: frozenset[str] = frozenset(),
) -> HttpResponse:
    """An index page, or with `?format=json` its `context[key]` entries as JSON (the same
    dicts the template shows: serializers.index_json)."""
    if wants_json(request):
        return json_response({key: index_json(request, context[key], drop=drop)})
    return _index_page(request, template, context)


def _index_page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    return render(request, template, {**context, "json_url": format_url(request, "json")})


@require_safe
def category_index(request: HttpRequest) -> HttpResponse:
    """The whole tree; each count includes the notices of the sub-categories."""
    categories = list(
        Category.objects.only("id", "name", "path", "full_name", "parent_id").order_by("path")
    )
    path_of = {category.id: category.path for category in categories}
    # Links per category from the stored counts (notices/counts.py), summed up each branch.
    counts: dict[str, int] = {}
    for category_id, count in stored_counts.values(stored_counts.ALL, "c"):
        parts = path_of.get(int(category_id), "").split("/")
        for depth in range(1, len(parts) + 1) if parts[0] else ():
            branch = "/".join(parts[:depth])
            counts[branch] = counts.get(branch, 0) + count
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    label_categories(categories)
    for category in categories:
        node = {"name": category.name, "label": category.label, "path": category.path,
                "url": category.get_absolute_url(), "count": counts.get(category.path, 0),
                "children": []}  # fmt: skip
        nodes[category.id] = node
        parent = nodes.get(category.parent_id) if category.parent_id else None
        (parent["children"] if parent else roots).append(node)
    for node in nodes.values():  # each level by name, pinyin for Chinese
        node["children"] = sorted_by_name(node["children"], lambda n: n["label"])
    roots = sorted_by_name(roots, lambda n: n["label"])

    def shown(node: dict[str, Any]) -> dict[str, Any]:
        # A domain holding one category and nothing else ("nyou.edu.cn" > 南洋大学) is that
        # category to a reader: one line, not the same name twice. The JSON keeps the tree.
        children = node["children"]
        if (
            len(children) == 1
            and node["label"] != node["name"]
            and children[0]["count"] == node["count"]
        ):
            return shown(children[0])
        return {**node, "children": [shown(child) for child in children]}

    if wants_json(request):
        return json_response({"categories": index_json(request, roots)})
    return _index_page(request, "notices/category_index.html", {"nodes": [shown(n) for n in roots]})


@require_safe
def tag_index(request: HttpRequest) -> HttpResponse:
    by_name = request.GET.get("sort") == "name"

    def tag_counts() -> list[tuple[str, str, int]]:
        # Counts from the stored counts (notices/counts.py), names for the tags in use.
        used = {int(tag): count for tag, count in stored_counts.values(stored_counts.ALL, "t")}
        tags = Tag.objects.filter(id__in=list(used)).values_list("id", "name", "slug")
        return [(name, slug, used[tag_id]) for tag_id, name, slug in tags]

    # Names by pinyin (Chinese) and alphabet (Latin), not by code point: sorted in Python.
    rows = sorted_by_name(cached("tag-index", [], tag_counts, request=request), lambda row: row[0])
    if not by_name:
        rows.sort(key=lambda row: -row[2])  # stable: equal counts stay by name
    most = max((count for _, _, count in rows), default=1)
    entries = [
        {
            "name": name,
            "slug": slug,
            "count": count,
            "url": reverse("notices:tag", args=[slug]),
            # Five sizes on a log scale, so one huge tag does not flatten the rest.
            "weight": 1 + round(4 * math.log(count) / math.log(most)) if most > 1 else 1,
        }
        for name, slug, count in rows
    ]
    return _index_response(
        request, "notices/tag_index.html", {"tags": entries, "sorted_by_name": by_name}, "tags",
        drop=frozenset({"weight"}),
    )  # fmt: skip


@require_safe
def site_index(request: HttpRequest) -> HttpResponse:
    by_name = request.GET.get("sort") == "name"
    # Counts and domains from the stored counts, latest dates within each site's latest month.
    rows = sorted_by_name(
        cached("site-index", [], stored_counts.site_summaries, request=request),
        lambda row: row[0],
    )
    if not by_name:
        rows.sort(key=lambda row: -row[1])  # stable: equal counts stay by name
    sites = [
        {
            "name": name,
            "count": count,
            "latest": latest,
            "domain": domain,
            "url": reverse("notices:site", args=[name]),
        }
        for name, count, latest, domain in rows
    ]
    return _index_response(
        request, "notices/site_index.html", {"sites": sites, "sorted_by_name": by_name}, "sites"
    )


@require_safe
def archive_index(request: HttpRequest) -> HttpResponse:
    # Every notice's month, from the stored counts (notices/counts.py, issue 13).
    counts = cached("archive-index", [], lambda: stored_counts.month_counts(stored_counts.ALL),
                    request=request)  # fmt: skip
    rows = [(year, month, count) for (year, month), count in reversed(counts)]
    years: list[dict[str, Any]] = []
    for year, month, count in rows:
        if not years or years[-1]["year"] != year:
            years.append({"year": year, "label": year_label(year), "count": 0,
                          "url": _archive_url(year), "months": []})  # fmt: skip
        years[-1]["count"] += count
        years[-1]["months"].append(
            {"month": month, "label": month_in_year_label(year, month), "count": count,
             "url": _archive_url(year, month)}
        )  # fmt: skip
    return _index_response(
        request, "notices/archive_index.html", {"years": years}, "years", drop=frozenset({"label"})
    )


# --- One notice ----------------------------------------------------------------


# A detail page shows its neighbours and related notices too, so it can change with any
# write: the data version (one primary-key query) validates it, per UI language (issue 5).
def _detail_etag(request: HttpRequest, urlname: str) -> str:
    # The JSON is another representation of the same URL: its own tag (issue 12).
    kind = "-json" if wants_json(request) else ""
    # Today's date too: the deadline banner's "还剩 N 天" changes at midnight (issue 15).
    return f"{request_version(request).token}-{get_language()}-{deadlines.today()}{kind}"


def _detail_last_modified(request: HttpRequest, urlname: str) -> dt.datetime:
    # Not before today's midnight: an If-Modified-Since from yesterday must not get a 304
    # of yesterday's deadline banner.
    return max(request_version(request).changed_at, deadlines.start_of_today())


@require_safe
@condition(etag_func=_detail_etag, last_modified_func=_detail_last_modified)
def notice_detail(request: HttpRequest, urlname: str) -> HttpResponse:
    published = Notice.objects.published()
    if wants_json(request):
        notice = get_object_or_404(
            published.prefetch_related("categories", "tags"), urlname=urlname
        )
        return json_response(notice_detail_json(request, notice))
    notice = get_object_or_404(published, urlname=urlname)
    highlight_text = request.GET.get("highlight", "")
    canonical_url = request.build_absolute_uri(notice.get_absolute_url())

    # The notice's part of the page is kept per data version: a warm page is two queries (the
    # data version, the notice). Not a search's highlighting, which any query string changes,
    # nor a body of megabytes, which would crowd the rest out of a local-memory cache.
    def parts() -> dict[str, str]:
        return _detail_parts(request, notice, highlight_text, canonical_url)

    if highlight_text or len(notice.body_html) > DETAIL_CACHE_MAX_CHARS:
        return _detail_response(request, notice, parts())
    key = [notice.pk, get_language(), canonical_url, deadlines.today()]
    return _detail_response(request, notice, cached("detail", key, parts, request=request))


def _detail_response(request: HttpRequest, notice: Notice, parts: dict[str, str]) -> HttpResponse:
    # The parts are this site's own rendering (SafeStrings, also when read back from the cache).
    parts = {name: mark_safe(html) for name, html in parts.items()}  # noqa: S308
    return render(request, "notices/notice_detail.html", {"notice": notice, "parts": parts})


def _detail_parts(
    request: HttpRequest, notice: Notice, highlight_text: str, canonical_url: str
) -> dict[str, str]:
    """The detail page's <head> tags and main part: four queries in all (issue 13) with the
    data version and the notice, then its tags and category ids, then its neighbours and
    related notices together."""
    links = _notice_links(notice)
    categories = _categories_with_trails(request, links.category_ids)
    around = _neighbours_and_related(notice, links)
    highlighted = _highlighted(notice, highlight_text)
    # Heading ids for the table of contents go on the sanitised (and highlighted) HTML.
    body = outline(highlighted.pop("body_html", notice.body_html))
    context = {
        "notice": notice,
        # What the link checker last found at the original (issue 15).
        "source_check": links.source_check,
        # The same notice from other sources (notices/grouping.py, issue 15).
        "other_copies": grouping.other_copies(notice),
        "tags": links.tags,
        "categories": categories,
        "category_trail": categories[0].trail if categories else [],
        "older": around.older,
        "newer": around.newer,
        "related": around.related,
        "canonical_url": canonical_url,
        "body_html": body.html,
        "toc": body.entries,
        "long_notice": body.long,
        **highlighted,
    }
    return {
        "meta": render_to_string("notices/notice_detail_meta.html", context, request),
        "main": render_to_string("notices/notice_detail_main.html", context, request),
    }


class NoticeLinks(NamedTuple):
    tags: list[Tag]
    category_ids: list[int]
    # Whether shared tags alone give RELATED_COUNT related notices (some tag has that many
    # other notices): then the same-category and same-site fills are not asked for.
    tags_fill_related: bool
    # What the link checker last found at the source link (issue 15), with the fields the
    # page shows; None when it was never checked.
    source_check: SourceCheck | None = None


def _notice_links(notice: Notice) -> NoticeLinks:
    """The notice's tags (by id, as the page lists them), category ids and the check of its
    source link in one query."""
    tag_table = connection.ops.quote_name(Tag._meta.db_table)
    link_table = connection.ops.quote_name(TaggedNotice._meta.db_table)
    category_table = connection.ops.quote_name(Notice.categories.through._meta.db_table)
    count_table = connection.ops.quote_name(FacetCount._meta.db_table)
    # Each tag's other published notices from the stored counts (counts.tag_scope(), this
    # notice among them): counting them through a join made PostgreSQL walk the notices'
    # primary key, 3 ms a tag (issue 13).
    sql = (
        f"SELECT 0, tag.id, tag.name, tag.slug, COALESCE((SELECT stored.count"
        f" FROM {count_table} stored WHERE stored.scope = %s || CAST(tag.id AS TEXT)"
        f" AND stored.facet = 'n' AND stored.value = ''), 0) - 1"
        f" FROM {tag_table} tag JOIN {link_table} link ON link.tag_id = tag.id"
        f" WHERE link.content_object_id = %s"
        f" UNION ALL SELECT 1, category_id, NULL, NULL, 0 FROM {category_table}"
        f" WHERE notice_id = %s"
    )
    params = [stored_counts.TAG_SCOPE_PREFIX, notice.pk, notice.pk]
    if notice.source_url:
        # The check's time as text: the columns are the tags' (both backends write ISO 8601).
        check_table = connection.ops.quote_name(SourceCheck._meta.db_table)
        sql += (
            f" UNION ALL SELECT 2, failures, outcome, CAST(checked_at AS TEXT), 0"
            f" FROM {check_table} WHERE url_hash = %s"
        )
        params.append(SourceCheck.hash_url(notice.source_url))
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY 1, 2", params)
        rows = cursor.fetchall()
    check = None
    for kind, failures, outcome, checked_at, _ in rows:
        if kind == 2:
            check = SourceCheck(
                url=notice.source_url, outcome=outcome, failures=failures,
                checked_at=raw_datetime(checked_at),
            )  # fmt: skip
    return NoticeLinks(
        tags=[Tag(id=tag, name=name, slug=slug) for kind, tag, name, slug, _ in rows if not kind],
        category_ids=[category_id for kind, category_id, *_ in rows if kind == 1],
        tags_fill_related=any(not kind and others >= RELATED_COUNT for kind, *_, others in rows),
        source_check=check,
    )


def _categories_with_trails(request: HttpRequest, category_ids: list[int]) -> list[Category]:
    """The categories of these ids (by path, as the page lists them), labelled and with their
    trails, from the whole tree's trails kept once per data version: no query on a page
    (categories are few; per combination of ids, each new one cost two queries)."""

    def compute() -> dict[int, list[tuple[int, str, str, str]]]:
        every = list(Category.objects.with_children())
        label_trails(every)
        return {
            category.id: [(node.id, node.name, node.path, node.label) for node in category.trail]
            for category in every
        }

    if not category_ids:
        return []
    trails = cached("category-trails-all", [], compute, request=request)
    categories = []
    for category_id in category_ids:
        if category_id not in trails:  # written after this data version was read
            continue
        trail = []
        for node_id, name, path, label in trails[category_id]:
            node = Category(id=node_id, name=name, path=path)
            node._label = label
            trail.append(node)
        trail[-1]._trail = trail
        categories.append(trail[-1])
    return sorted(categories, key=lambda category: category.path)


def _label_trails_cached(request: HttpRequest, categories: list[Category]) -> None:
    """label_trails() of the categories a page names, kept per data version: labels and trails
    change only with a write, and computing them was two of a detail page's queries."""

    def compute() -> dict[int, list[Category]]:
        label_trails(categories)
        return {category.id: category.trail for category in categories}

    if not categories:
        return
    trails = cached("category-trails", sorted(c.id for c in categories), compute, request=request)
    for category in categories:
        *ancestors, leaf = trails[category.id]
        category._label = getattr(leaf, "_label", None)
        category._trail = [*ancestors, category]


@require_safe
def post_by_name(request: HttpRequest, name: str) -> HttpResponse:
    """Where Hexo's `{% post_link name %}` points: a 301 to the notice of that slug, file name
    or title (issue 9)."""
    notice = find_post(name)
    if notice is None:
        raise Http404("No post of that name.")
    return redirect(notice.get_absolute_url(), permanent=True)


def _highlighted(notice: Notice, highlight_text: str) -> dict[str, Any]:
    """The title and body with a search's matches marked (opened from a search result)."""
    query = parse_query(highlight_text)
    if not query:
        return {}
    return {
        "highlight_query": query.text,
        "title_html": highlight(notice.title, query),
        "body_html": highlight_html(notice.body_html, query),
    }


class Neighbour(NamedTuple):
    """A notice the detail page links to (older, newer, related): what the link shows."""

    id: int
    urlname: str
    title: str
    date: dt.datetime
    url: str

    def get_absolute_url(self) -> str:
        return self.url


class Around(NamedTuple):
    older: Neighbour | None
    newer: Neighbour | None
    related: list[Neighbour]


def _neighbours_and_related(notice: Notice, links: NoticeLinks) -> Around:
    """The older and newer notices by (date, id), and the related notices: those sharing the
    most tags (ties go to the same category, then the same site, then the newest), filled up
    with the newest of the same category, then of the same site. One query, a UNION ALL of
    parts each cut off at RELATED_COUNT rows (or one); each part was a query of its own."""
    table = connection.ops.quote_name(Notice._meta.db_table)
    link_table = connection.ops.quote_name(TaggedNotice._meta.db_table)
    category_table = connection.ops.quote_name(Notice.categories.through._meta.db_table)
    date = connection.ops.adapt_datetimefield_value(notice.date)
    columns = "n.id, n.urlname, n.title, n.date"
    others = f"n.urlname <> '' AND n.id <> {int(notice.pk)}"
    in_categories = ", ".join(str(int(pk)) for pk in links.category_ids)
    # The outer date bound lets the (date, id) index seek; the OR alone scans (issue 5).
    parts = [
        (
            f"SELECT 'older' AS part, {columns}, 0 AS shared, 0 AS same_category, 0 AS same_site"
            f" FROM {table} n WHERE n.urlname <> '' AND n.date <= %s"
            f" AND (n.date < %s OR n.id < %s) ORDER BY n.date DESC, n.id DESC LIMIT 1",
            [date, date, notice.pk],
        ),
        (
            f"SELECT 'newer', {columns}, 0, 0, 0 FROM {table} n WHERE n.urlname <> ''"
            f" AND n.date >= %s AND (n.date > %s OR n.id > %s) ORDER BY n.date, n.id LIMIT 1",
            [date, date, notice.pk],
        ),
    ]
    tag_ids = [tag.pk for tag in links.tags]
    if tag_ids:
        # The newest RELATED_POOL notices of each tag: ranking every notice that shares a
        # site-wide tag took 50 ms at 100,000 notices; each pool is an index-only read of
        # the (tag, notice) index (issue 5). A UNION ALL of per-tag LIMITs, because OR-ed
        # `IN (subquery)` conditions made SQLite scan every row of the tags.
        pool = " UNION ALL ".join(
            f"SELECT * FROM (SELECT content_object_id FROM {link_table} WHERE tag_id = %s"
            f" ORDER BY content_object_id DESC LIMIT {RELATED_POOL}) AS newest"
            for _ in tag_ids
        )
        same_category = (
            f"CASE WHEN EXISTS (SELECT 1 FROM {category_table} c"
            f" WHERE c.notice_id = link.content_object_id AND c.category_id IN ({in_categories}))"
            f" THEN 1 ELSE 0 END"
            if in_categories
            else "0"
        )
        # Ranked by shared tags and category from the indexes alone; the notice rows (site,
        # date) are read only for the candidates that can still reach the first
        # RELATED_COUNT: reading every candidate's row was most of the query's time.
        parts.append(
            (
                f"WITH counted AS (SELECT link.content_object_id AS id, COUNT(*) AS shared,"
                f" {same_category} AS same_category FROM {link_table} link"
                f" WHERE link.tag_id IN ({', '.join(['%s'] * len(tag_ids))})"
                f" AND link.content_object_id IN ({pool}) AND link.content_object_id <> %s"
                f" AND link.content_object_id NOT IN (SELECT id FROM {table} WHERE urlname = '')"
                f" GROUP BY link.content_object_id)"
                f" SELECT 'tags', {columns}, counted.shared, counted.same_category,"
                f" CASE WHEN n.site = %s THEN 1 ELSE 0 END"
                f" FROM counted JOIN {table} n ON n.id = counted.id"
                f" WHERE counted.shared * 2 + counted.same_category >= COALESCE(("
                f"SELECT shared * 2 + same_category AS rank FROM counted"
                f" ORDER BY rank DESC LIMIT 1 OFFSET {RELATED_COUNT - 1}), 0)"
                f" ORDER BY 6 DESC, 7 DESC, 8 DESC, n.date DESC, n.id DESC"
                f" LIMIT {RELATED_COUNT}",
                [*tag_ids, *tag_ids, notice.pk, notice.site],
            )
        )
    if not links.tags_fill_related:
        if in_categories:
            parts.append(
                (
                    f"SELECT 'category', {columns}, 0, 0, 0 FROM {table} n WHERE {others}"
                    f" AND n.id IN (SELECT notice_id FROM {category_table}"
                    f" WHERE category_id IN ({in_categories}))"
                    f" ORDER BY n.date DESC, n.id DESC LIMIT {RELATED_COUNT}",
                    [],
                )
            )
        if notice.site:
            parts.append(
                (
                    f"SELECT 'site', {columns}, 0, 0, 0 FROM {table} n WHERE {others}"
                    f" AND n.site = %s ORDER BY n.date DESC, n.id DESC LIMIT {RELATED_COUNT}",
                    [notice.site],
                )
            )
    # Each part in a sub-select: SQLite allows no ORDER BY or LIMIT in a compound's parts.
    sql = " UNION ALL ".join(
        f"SELECT * FROM ({part}) AS part_{index}" for index, (part, _) in enumerate(parts)
    )
    # Plain rows, not Notice.objects.raw(): the links need four columns, not model instances.
    with connection.cursor() as cursor:
        cursor.execute(sql, [param for _, params in parts for param in params])
        rows = cursor.fetchall()
    by_part: dict[str, list[tuple]] = {}
    for row in rows:
        by_part.setdefault(row[0], []).append((*row[1:4], raw_datetime(row[4]), *row[5:]))
    url = url_maker("notices:detail")
    neighbours: dict[str, list[Neighbour]] = {}
    for part, ranked in by_part.items():
        # A sub-select's order does not survive the union: shared tags, same category, same
        # site, date, id.
        ranked.sort(key=lambda row: (row[4], row[5], row[6], row[3], row[0]), reverse=True)
        neighbours[part] = [Neighbour(*row[:4], url(row[1])) for row in ranked]
    related: list[Neighbour] = []
    for part in ("tags", "category", "site"):
        chosen = {n.id for n in related}
        related += [n for n in neighbours.get(part, []) if n.id not in chosen]
    return Around(
        older=next(iter(neighbours.get("older", [])), None),
        newer=next(iter(neighbours.get("newer", [])), None),
        related=related[:RELATED_COUNT],
    )


# --- Deadlines -----------------------------------------------------------------


def upcoming_deadlines(request: HttpRequest | None = None) -> NoticeQuerySet:
    """Published notices whose deadline is today or later, soonest first: a range of the
    (deadline, id) index (issue 15)."""
    upcoming = listable(request).filter(deadline__gte=deadlines.today())
    # Copies of one notice share its deadline: listed once, as every list lists them.
    return NoticeFilters().shown(upcoming, request).order_by("deadline", "id")


@require_safe
def deadline_list(request: HttpRequest) -> HttpResponse:
    """即将截止: notices whose deadline is today or ahead, soonest first (issue 15)."""
    notices = upcoming_deadlines(request)
    page = paginate_notices(request, notices.for_list(), settings.NOTICES_PAGE_SIZE, orphans=3)
    if requested_format(request) == "csv":
        return csv_response(request, "deadlines", page, notices.values_list("id", flat=True))
    if wants_json(request):
        return json_response(page_json(request, page, NoticeFilters.from_params(QueryDict()), {}))
    return render(
        request,
        "notices/deadline_list.html",
        {
            "page": page,
            "today": deadlines.today(),
            "cache_version": request_version(request).token,
            "json_url": format_url(request, "json"),
            "feed_atom": reverse("notices:deadlines-atom"),
        },
    )


# --- For robots ----------------------------------------------------------------


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = [
        "User-agent: *",
        f"Disallow: {reverse('admin:index')}",
        f"Disallow: {reverse('set_language')}",
        f"Sitemap: {request.build_absolute_uri(reverse('notices:sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


@require_safe
def openapi_description(request: HttpRequest) -> HttpResponse:
    """docs/openapi.yaml, the description of the JSON and CSV answers (issue 12)."""
    return HttpResponse(_openapi_text(), content_type="application/yaml; charset=utf-8")


@functools.cache
def _openapi_text() -> str:
    return (settings.BASE_DIR / "docs" / "openapi.yaml").read_text(encoding="utf-8")


# --- Search --------------------------------------------------------------------


def _search_request(request: HttpRequest) -> tuple[str, ParsedQuery, str, NoticeFilters]:
    """The query, its parsed terms, the sort and the list filters of a search request."""
    query_text = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "relevance")
    if sort not in SEARCH_SORTS:
        sort = "relevance"
    return query_text, parse_query(query_text), sort, NoticeFilters.from_params(request.GET)


def _without_cut_tag(html_prefix: str) -> str:
    """A prefix of HTML without the tag it may end inside of."""
    last_open = html_prefix.rfind("<")
    return html_prefix[:last_open] if last_open > html_prefix.rfind(">") else html_prefix


def _search_hits(
    notices: list[Notice], query: ParsedQuery, query_text: str
) -> list[dict[str, Any]]:
    """Each notice with its highlighted title, a snippet of its body and a link that
    highlights the matches on its page (all built from the original text, escaped)."""
    # Each body's first SNIPPET_HTML_CHARS, cut in the database and read with the rows
    # (search_notices(body_prefix=...)): stripping each hit's whole body took 2.4 s for a
    # page with a 4.5 MB one (issue 11).
    suffix = "?" + urlencode({"highlight": query_text}) if query_text else ""
    return [
        {
            "notice": notice,
            "title_html": highlight(notice.title, query),
            "snippet_html": snippet(plain_text(_without_cut_tag(notice.body_prefix)), query),
            "url": notice.get_absolute_url() + suffix,
        }
        for notice in notices
    ]


def _search_facets(results: SearchResults, filters: NoticeFilters, request: HttpRequest) -> Facets:
    """Facets of a search's matches, their ids found once and grouped by hand."""
    if not results.count():
        # Nothing to group: the same empty facets from an empty queryset, without a query.
        return facet_counts(Notice.objects.none(), filters, request=request)
    ids_sql = matched_ids_sql(results)
    notices = Notice.objects.filter(id__in=RawSQL(*ids_sql))
    return facet_counts(notices, filters, ids_sql=ids_sql, request=request)


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    query_text, query, sort, filters = _search_request(request)
    notices = filters.apply(Notice.objects.published())
    # The HTML shows no tags of a result; its JSON does.
    results = search_notices(
        query,
        notices,
        sort=sort,
        tags=wants_json(request),
        body_prefix=SNIPPET_HTML_CHARS,
        request=request,
        one_per_group=filters.folds_copies(request),
    )
    page = Paginator(results, settings.NOTICES_PAGE_SIZE, orphans=3).get_page(
        request.GET.get("page")
    )
    if requested_format(request) == "csv":
        return csv_response(request, "search", page, result_ids(results))
    hits = _search_hits(list(page.object_list), query, query_text) if query else []
    # Facet counts join every match (about 0.5 s of CPU for 16,000 matches at 100,000 notices):
    # a broader search shows its count and results, and asks for a narrower query for facets.
    facets_shown = bool(query) and page.paginator.count <= SEARCH_FACET_LIMIT
    facets = {}
    if facets_shown:  # once per data version, as a list's (nine grouped queries)
        facets = cached(
            "search-facets",
            [queryset_key(results.notices), filters.query(), get_language()],
            lambda: _search_facets(results, filters, request),
            request=request,
        )
    facets_skipped = bool(query) and not facets_shown
    if wants_json(request):
        return json_response(
            search_page_json(request, page, filters, facets, hits, query=query_text, sort=sort,
                             facets_skipped=facets_skipped, hidden_copies=results.hidden_copies)
        )  # fmt: skip
    feed_params = known_params(request.GET)
    for key in ("page", "format", "sort"):
        feed_params.pop(key, None)
    sort_links = [
        {"value": value, "label": SORT_LABELS[value], "query": _sorted_query(request.GET, value)}
        for value in SEARCH_SORTS
    ]
    return render(
        request,
        "notices/search.html",
        {
            **list_context(
                request, page, filters, facets, _feed_urls("search", [], feed_params.urlencode())
            ),
            "query": query_text,
            "parsed_query": query,
            "hidden_copies": results.hidden_copies,
            "all_copies_query": filters.query(all_copies=True),
            "sort": sort,
            "sort_links": sort_links,
            "hits": hits,
            "facets_skipped": facets_skipped,
            "facet_limit": SEARCH_FACET_LIMIT,
        },
    )


def _sorted_query(params: QueryDict, order: str) -> str:
    """The query string of this page in another order, from its first page, as HTML."""
    query = known_params(params)
    for key in DROPPED_PARAMS:
        query.pop(key, None)
    query["sort"] = order
    return query.urlencode()


@require_safe
def opensearch(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "notices/opensearch.xml",
        {
            "search_url": request.build_absolute_uri(reverse("notices:search")),
            "feed_url": request.build_absolute_uri(reverse("notices:search-atom")),
            "home_url": request.build_absolute_uri(reverse("notices:list")),
        },  # fmt: skip
        content_type="application/opensearchdescription+xml; charset=utf-8",
    )


# --- One facet, every value ----------------------------------------------------

FACET_TITLES = {
    "categories": gettext_lazy("Categories"),
    "tags": gettext_lazy("Tags"),
    "sites": gettext_lazy("Sources"),
    "years": gettext_lazy("Years"),
    "months": gettext_lazy("Months"),
}


@require_safe
def facet_detail(request: HttpRequest, facet: str) -> HttpResponse:
    """Every value of one facet with its count under the filters of the query string (the
    "更多" of a list's facet), by count or by name (pinyin): `/facets/tags/?site=…`."""
    if facet not in FACET_TITLES:
        raise Http404("No such facet.")
    by_name = request.GET.get("sort") == "name"
    params = request.GET.copy()
    params.pop("sort", None)  # this page's own order, not a search's: kept out of the links
    filters = NoticeFilters.from_params(params)
    notices = filters.apply(Notice.objects.published())
    query = parse_query(request.GET.get("q", "").strip())
    # A search's facets are counted over its matches, with the search page's bound.
    too_broad = False
    if query:
        results = search_notices(query, notices, request=request)
        too_broad = results.count() > SEARCH_FACET_LIMIT
        notices = results.notices
    values, cut = [], False
    if not too_broad:
        values, cut = cached(
            "facet-values",
            [queryset_key(notices), facet, by_name, filters.query(), get_language()],
            lambda: facet_values(
                notices, filters, facet, by_name=by_name, listed=not query, request=request
            ),
            request=request,
        )
    target = reverse("notices:search" if query else "notices:list")
    for value in values:
        value["list_url"] = f"{target}?{value['query']}"
    here = facet_page_query(filters)
    sort_query = {order: _sorted_query(params, order) for order in ("count", "name")}
    if wants_json(request):
        return json_response({
            "facet": facet,
            "sort": "name" if by_name else "count",
            "filters": filters_json(filters),
            "query": query.text if query else "",
            "count": len(values),
            "truncated": cut,
            "limit": FACET_PAGE_LIMIT,
            "facets_skipped": too_broad,
            "values": index_json(request, values, drop=frozenset({"query"})),
        })  # fmt: skip
    context = {
        "facet": facet,
        "facet_title": FACET_TITLES[facet],
        "values": values,
        "truncated": cut,
        "limit": FACET_PAGE_LIMIT,
        "too_broad": too_broad,
        "facet_limit": SEARCH_FACET_LIMIT,
        "sorted_by_name": by_name,
        "active_filters": filters.active(),
        "back_url": f"{target}?{here}" if here else target,
        "sort_by_count": sort_query["count"],
        "sort_by_name": sort_query["name"],
    }
    return _index_page(request, "notices/facet_values.html", context)
