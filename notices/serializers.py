"""The one place notices, lists and errors become JSON dicts and CSV rows (issue 12).

Views choose the format (`requested_format`) and hand over what they have; the shapes are
described for clients in docs/openapi.yaml, which tests/test_api.py checks them against.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from django.core.exceptions import SuspiciousOperation
from django.core.paginator import Page
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import RFC3986_SUBDELIMS

from notices import grouping
from notices.filters import NoticeFilters, known_params
from notices.models import Notice, SourceCheck, TaggedNotice

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from notices.search import SearchResults

FORMATS = ("json", "csv")
CSV_COLUMNS = (
    "urlname", "title", "date", "site", "domain", "categories", "tags", "source_url", "url",
    "summary",
)  # fmt: skip
# `?format=csv&all=1` streams every match up to this many rows: a bound on time and memory
# for one request (10,000 rows: 0.46 s from a list, 0.58 s from a search, SQLite on a busy
# 2-core machine), like Datasette's cap on _stream=1.
CSV_MAX_ROWS = 10_000
CSV_CHUNK_ROWS = 500
# Excel reads a CSV file as UTF-8 only when it starts with a BOM (otherwise as the system's
# ANSI code page, which garbles Chinese); other CSV readers skip it.
CSV_BOM = "\ufeff"
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection"):
# such cells get a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Several categories or tags in one cell.
CELL_SEPARATOR = "; "


def requested_format(request: HttpRequest) -> str:
    """The format `?format=` asks for ("json", "csv"), else "html". Pages switch on the
    parameter only, so each format has its own URL and caches need no `Vary: Accept`."""
    value = request.GET.get("format", "")
    return value if value in FORMATS else "html"


def wants_json(request: HttpRequest) -> bool:
    return requested_format(request) == "json"


def wants_json_error(request: HttpRequest) -> bool:
    """Whether an error should be JSON: `?format=json`/`csv`, or an Accept header preferring
    application/json to text/html (curl without -H, and browsers, prefer HTML)."""
    try:
        chosen = requested_format(request)
    except SuspiciousOperation:  # the 400 for too many parameters: read the raw query
        query = parse_qsl(request.META.get("QUERY_STRING", ""))
        chosen = next((value for key, value in query if key == "format"), "html")
    if chosen in FORMATS:
        return True
    if "application/json" not in request.headers.get("Accept", ""):
        return False
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def json_response(data: dict[str, Any], *, status: int = 200) -> JsonResponse:
    # UTF-8 as written: Chinese is not \u-escaped.
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


# --- Errors ----------------------------------------------------------------------


def error_json(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "error": HTTPStatus(status).phrase, "message": message}


def error_response(status: int, message: str) -> JsonResponse:
    return json_response(error_json(status, message), status=status)


# --- Notices ---------------------------------------------------------------------


def _isoformat(value: Any) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def notice_json(request: HttpRequest, notice: Notice) -> dict[str, Any]:
    """A notice as lists give it: no body (lists defer it), categories and tags prefetched."""
    return {
        "urlname": notice.urlname,
        "title": notice.title,
        "url": request.build_absolute_uri(notice.get_absolute_url()),
        "date": _isoformat(notice.date),
        "site": notice.site,
        "domain": notice.domain,
        "source_url": notice.source_url,
        "summary": notice.summary,
        "has_attachments": notice.has_attachments,
        # How many sources publish this notice (notices/grouping.py, issue 15): 1 for one.
        "group_size": notice.group_size,
        # The deadline the body sets (notices/deadlines.py, issue 15), or null.
        "deadline": {"date": notice.deadline.isoformat(), "label": notice.deadline_label,
                     "phrase": notice.deadline_phrase} if notice.deadline else None,
        "categories": [
            {"name": c.name, "label": c.label, "full_name": c.full_name, "path": c.path,
             "url": request.build_absolute_uri(c.get_absolute_url())}
            for c in notice.categories.all()
        ],
        "tags": [
            {"name": t.name, "slug": t.slug,
             "url": request.build_absolute_uri(reverse("notices:tag", args=[t.slug]))}
            for t in sorted(notice.tags.all(), key=lambda tag: tag.name)
        ],
    }  # fmt: skip


def notice_detail_json(request: HttpRequest, notice: Notice) -> dict[str, Any]:
    """Everything a notice holds that a reader may use: the Markdown as stored, the sanitised
    HTML, the dates and where the date came from, unknown front-matter keys, the old
    addresses that redirect here and the check of the source link (two queries)."""
    return {
        **notice_json(request, notice),
        "updated": _isoformat(notice.updated),
        "date_source": notice.date_source,
        "body": notice.body,
        "body_html": notice.body_html,
        "extra": notice.extra or {},
        "attachments": [attachment.as_dict() for attachment in notice.attachment_list],
        "old_addresses": [
            "/" + path
            for path in notice.old_addresses.order_by("path").values_list("path", flat=True)
        ],
        "source_check": source_check_json(SourceCheck.for_url(notice.source_url)),
        "group": group_json(request, notice),
    }


def group_json(request: HttpRequest, notice: Notice) -> dict[str, Any] | None:
    """The notice's group of the same notice from other sources, every member (this one too)
    earliest first; None when no other source has it."""
    others = grouping.other_copies(notice)
    if not others:
        return None
    members = sorted([notice, *others], key=lambda member: (member.date, member.id))
    return {
        "id": notice.group,
        "size": notice.group_size,
        "members": [
            {
                "urlname": member.urlname,
                "site": member.site,
                "date": _isoformat(member.date),
                "url": request.build_absolute_uri(member.get_absolute_url()),
                "source_url": member.source_url,
                "lead": member.id == notice.group,
            }
            for member in members
        ],
    }


def source_check_json(check: SourceCheck | None) -> dict[str, Any] | None:
    """What the link checker last found at a notice's source link (issue 15), or None when
    it has not been checked (or there is none)."""
    if check is None:
        return None
    return {
        "outcome": check.outcome,
        "gone": check.is_dead,
        "checked_at": _isoformat(check.checked_at),
        "status": check.status,
        "final_url": check.final_url,
        "archive_url": check.archive_url if check.is_dead else None,
    }


# --- Lists -----------------------------------------------------------------------


def filters_json(filters: NoticeFilters) -> dict[str, Any]:
    return {
        "category": filters.category.path if filters.category else None,
        "tags": [tag.slug for tag in filters.tags],
        "site": filters.site or None,
        "year": filters.year,
        "month": filters.month,
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "attachments": filters.attachments,
        "source": filters.source or None,
        "all": filters.all_copies,
    }


def page_json(
    request: HttpRequest,
    page: Page,
    filters: NoticeFilters,
    facets: dict[str, list],
    *,
    hidden_copies: int = 0,
) -> dict[str, Any]:
    """One page of a notice list (or of search results, which add their own keys).
    `hidden_copies`: how many copies of near-duplicates the list folds into their group's
    entry (`?all=1` lists them: issue 15)."""

    def page_link(number: int) -> str:
        return request.build_absolute_uri(request.path + format_url(request, "json", page=number))

    return {
        "count": page.paginator.count,
        "hidden_copies": hidden_copies,
        "page": page.number,
        "num_pages": page.paginator.num_pages,
        "page_size": page.paginator.per_page,
        "next": page_link(page.next_page_number()) if page.has_next() else None,
        "previous": page_link(page.previous_page_number()) if page.has_previous() else None,
        "filters": filters_json(filters),
        "facets": facets,
        "results": [notice_json(request, notice) for notice in page.object_list],
    }


def search_page_json(
    request: HttpRequest,
    page: Page,
    filters: NoticeFilters,
    facets: dict[str, list],
    hits: list[dict[str, Any]],
    *,
    query: str,
    sort: str,
    facets_skipped: bool,
    hidden_copies: int = 0,
) -> dict[str, Any]:
    """One page of search results: a list's page with the query, the order, and each hit's
    highlighted title, snippet and highlighting link (views._search_hits)."""
    data = page_json(request, page, filters, facets, hidden_copies=hidden_copies)
    data["query"] = query
    data["sort"] = sort
    data["facets_skipped"] = facets_skipped
    data["results"] = [
        {**notice_json(request, hit["notice"]),
         "title_html": hit["title_html"], "snippet_html": hit["snippet_html"],
         "highlight_url": request.build_absolute_uri(hit["url"])}
        for hit in hits
    ]  # fmt: skip
    return data


def index_json(request: HttpRequest, value: Any, *, drop: frozenset[str] = frozenset()) -> Any:
    """The JSON copy of what an index page shows (the tag, site, archive, category and facet
    pages hand over their template's entries): each `url` and `*_url` absolute, dates in
    local ISO 8601, and the keys only the template reads (`drop`: a tag's weight) left out."""
    if isinstance(value, dict):
        return {
            key: request.build_absolute_uri(item)
            if key == "url" or key.endswith("_url")
            else index_json(request, item, drop=drop)
            for key, item in value.items()
            if key not in drop
        }
    if isinstance(value, list | tuple):
        return [index_json(request, item, drop=drop) for item in value]
    if isinstance(value, dt.datetime):
        return _isoformat(value)
    return value


def format_url(request: HttpRequest, format: str, **changes: Any) -> str:
    """This page's query string (with `?`) in another format, keeping its list parameters
    (with `changes`, e.g. another page)."""
    query = known_params(request.GET)
    for key, value in changes.items():
        query[key] = str(value)
    query["format"] = format
    return f"?{query.urlencode()}"


# --- CSV -------------------------------------------------------------------------


class _Echo:
    """A file-like object csv.writer writes to, handing each line back (Django's docs)."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _csv_rows(request: HttpRequest, ids: Sequence[int]) -> Iterator[list[str]]:
    """The rows of the notices `ids`, in that order, from three queries of plain values:
    model instances with their prefetched tags cost 2 ms a row (20 s for 10,000)."""
    notices = {
        row[0]: row
        for row in Notice.objects.filter(id__in=ids).values_list(
            "id", "urlname", "title", "date", "site", "domain", "source_url", "summary"
        )
    }
    categories: dict[int, list[str]] = defaultdict(list)
    links = Notice.categories.through.objects.filter(notice_id__in=ids)
    for notice_id, path in links.order_by("category__path").values_list(
        "notice_id", "category__path"
    ):
        categories[notice_id].append(path)
    tags: dict[int, list[str]] = defaultdict(list)
    tagged = TaggedNotice.objects.filter(content_object_id__in=ids)
    for notice_id, name in tagged.order_by("tag__name").values_list(
        "content_object_id", "tag__name"
    ):
        tags[notice_id].append(name)
    # reverse() once: each address is the detail URL with its urlname quoted as reverse()
    # quotes it (0.2 ms a row otherwise).
    detail_prefix = request.build_absolute_uri(reverse("notices:detail", args=["-"]))[:-2]
    zone = timezone.get_current_timezone()
    for notice_id in ids:
        if notice_id not in notices:
            continue
        _, urlname, title, date, site, domain, source_url, summary = notices[notice_id]
        row = [
            urlname,
            title,
            date.astimezone(zone).isoformat(),
            site,
            domain,
            CELL_SEPARATOR.join(categories[notice_id]),
            CELL_SEPARATOR.join(tags[notice_id]),
            source_url,
            f"{detail_prefix}{quote(urlname, safe=RFC3986_SUBDELIMS + '/~:@')}/",
            summary,
        ]
        yield [_cell(value) for value in row]


def list_ids(notices: QuerySet[Notice]) -> QuerySet:
    """A notice list's ids, newest first as the list shows them."""
    return notices.order_by("-date", "-id").values_list("id", flat=True)


def result_ids(results: SearchResults) -> QuerySet:
    """A search's ids by date: oldest first for `sort=oldest`, else newest first. Not by
    relevance: ranking loads each match as a model instance (10,000 took 7 s)."""
    order = ("date", "id") if results.sort == "oldest" else ("-date", "-id")
    return results.notices.order_by(*order).values_list("id", flat=True)


def _csv_lines(request: HttpRequest, id_chunks: Iterable[Sequence[int]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield CSV_BOM + writer.writerow(CSV_COLUMNS)
    for ids in id_chunks:
        for row in _csv_rows(request, ids):
            yield writer.writerow(row)


def _chunks(ids: QuerySet, limit: int) -> Iterator[list[int]]:
    """The first `limit` ids (one query: 10,000 integers), in chunks of rows to fetch."""
    every = list(ids[:limit])
    for start in range(0, len(every), CSV_CHUNK_ROWS):
        yield every[start : start + CSV_CHUNK_ROWS]


def wants_all_rows(request: HttpRequest) -> bool:
    return request.GET.get("all") == "1"


def csv_response(request: HttpRequest, name: str, page: Page, all_ids: QuerySet) -> HttpResponse:
    """The notices of `page` as CSV, or with `?all=1` every row of the list (`all_ids`, in
    the list's order) up to CSV_MAX_ROWS, streamed."""
    if wants_all_rows(request):
        response: HttpResponse = StreamingHttpResponse(
            _csv_lines(request, _chunks(all_ids, CSV_MAX_ROWS)),
            content_type="text/csv; charset=utf-8",
        )
        filename = f"{name}-all.csv"
    else:
        ids = [notice.id for notice in page.object_list]
        response = HttpResponse(
            "".join(_csv_lines(request, [ids])), content_type="text/csv; charset=utf-8"
        )
        filename = f"{name}.csv" if page.number == 1 else f"{name}-page-{page.number}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
