"""Cached counts, facets and page anchors that are never stale after a write (issue 5).

Every cached value is keyed by the data version: a token in one database row that changes
in the same transaction as any write to notices, tags or categories. A reader therefore sees
either the old data with the old cached values or the new data with freshly computed ones, on
every app server, whatever the cache backend (local memory on one host, Redis when REDIS_URL
is set).

Who bumps (issue 14: explicit calls, not a receiver per row): the function that writes calls
bump_data_version(), once per transaction however many rows it writes (a second call in the
same transaction is free). The importer calls it per batch; `Notice.save()`/`delete()`,
`Notice.objects....delete()` (counts.delete_notices) and `Category.save()`/`delete()` call
it themselves, so the admin, history restores and scripts cannot forget it; the link tables'
related managers (`notice.tags.add()`, `category.notices.set()`) and taggit's own Tag model,
which have no method of ours to extend, bump from the few receivers counts.connect() keeps.
Not covered: QuerySet.update(), raw SQL and loaddata: bump by hand (or `manage.py
recount_notices`, which also bumps).

Reading the version costs one primary-key query per request; it is remembered on the
request, so a page that uses several cached values still asks once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlencode

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import parse_http_date_safe
from django.utils.translation import get_language

from notices.models import DataVersion, Notice, SourceCheck

T = TypeVar("T")

# Values are unreachable after the next write anyway; this only bounds a quiet site's memory.
CACHE_SECONDS = 24 * 3600
_ROW_ID = 1
_REQUEST_ATTRIBUTE = "_notices_data_version"
KEPT_HEADERS = ("Content-Type", "Last-Modified", "Content-Language")


class Version(NamedTuple):
    token: str
    changed_at: dt.datetime


def current_version() -> Version:
    # Read on every request: plain SQL, as building the ORM query was most of a stored
    # page's time (issue 13).
    table = connection.ops.quote_name(DataVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token, changed_at FROM {table} WHERE id = %s", [_ROW_ID])
        row = cursor.fetchone()
    if row is None:  # a flushed database (TransactionTestCase) or a hand-made one
        return bump_data_version()
    token, changed_at = row
    return Version(token, raw_datetime(changed_at))


def raw_datetime(value: dt.datetime | str) -> dt.datetime:
    """A datetime as a plain cursor returns it, aware: SQLite gives UTC text (or a naive
    datetime) without its zone, PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if timezone.is_naive(value) else value


def request_version(request: HttpRequest | None) -> Version:
    """The data version, read once per request."""
    if request is None:
        return current_version()
    version = getattr(request, _REQUEST_ATTRIBUTE, None)
    if version is None:
        version = current_version()
        setattr(request, _REQUEST_ATTRIBUTE, version)
    return version


def bump_data_version() -> Version:
    """Make every cached value unreachable; call inside the transaction that writes.

    Inside a transaction the row is written by the first call only: the write commits (or
    rolls back) with the data, so no app server sees new rows under the old token, and a
    crash between the two cannot lose the bump, as a bump run by transaction.on_commit could.
    Later calls in the same transaction return the same version (issue 14: a prune of 100
    notices wrote the row 100 times). A savepoint rolled back takes its bump with it; the
    next call writes again. Outside a transaction it writes at once."""
    pending = _bump_of_this_transaction()
    if pending is not None:
        return pending.version
    version = Version(uuid.uuid4().hex, timezone.now())
    updated = DataVersion.objects.filter(id=_ROW_ID).update(
        token=version.token, changed_at=version.changed_at
    )
    if not updated:
        DataVersion.objects.update_or_create(
            id=_ROW_ID, defaults={"token": version.token, "changed_at": version.changed_at}
        )
    if _transaction_savepoint() is not _OUTSIDE:
        # Registered only as the transaction's mark: Django drops it with a rollback (of
        # the transaction, or of the savepoint it was registered in) and runs it, a no-op,
        # at commit, so it is in connection.run_on_commit exactly while the bump is pending.
        transaction.on_commit(_Bumped(version))
    return version


class _Bumped:
    """The on_commit mark of a transaction whose data version was written."""

    def __init__(self, version: Version) -> None:
        self.version = version

    def __call__(self) -> None:
        pass


_OUTSIDE = object()


def _transaction_savepoint() -> Any:
    """_OUTSIDE when no transaction of the code is open (autocommit, or only a test case's
    own wrapping blocks), None for a real outermost transaction, else the savepoint id of
    the outermost block inside a test case's (its on_commit marks carry it)."""
    blocks = connection.atomic_blocks
    for index, block in enumerate(blocks):
        if not getattr(block, "_from_testcase", False):
            # savepoint_ids[i] belongs to atomic_blocks[i + 1]; the outermost has none.
            return None if index == 0 else connection.savepoint_ids[index - 1]
    return _OUTSIDE


def _bump_of_this_transaction() -> _Bumped | None:
    savepoint = _transaction_savepoint()
    if savepoint is _OUTSIDE:
        return None
    if savepoint is None and getattr(connection.atomic_blocks[0], "_from_testcase", False):
        return None  # a block inside a test case's that made no savepoint: cannot tell
    for savepoint_ids, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _Bumped) and (savepoint is None or savepoint in savepoint_ids):
            return callback
    return None


def _storable() -> bool:
    """Whether a computed value may be stored: not from inside a transaction that bumped,
    whose later writes would not bump again and would leave the value stale."""
    return _bump_of_this_transaction() is None


class ArchiveFacts(NamedTuple):
    """What decides how lists and searches are built, true of few archives."""

    unlisted: bool  # some notice has no urlname (no page): lists must test for it
    grouped: bool  # some notice has a copy from another source: lists fold copies
    dead_sources: bool  # the link checker found an original gone: the 原文已失效 facet


def archive_facts(request: HttpRequest | None = None) -> ArchiveFacts:
    """ArchiveFacts in one query, kept per data version: a list's first view after a write
    asked each in a query of its own (issue 13)."""

    def compute() -> ArchiveFacts:
        asked = [
            Notice.objects.filter(urlname=""),
            Notice.objects.filter(group__isnull=False),
            SourceCheck.objects.filter(SourceCheck.dead_q()),
        ]
        parts = [qs.order_by().values("pk")[:1].query.sql_with_params() for qs in asked]
        sql = "SELECT " + ", ".join(f"EXISTS ({part})" for part, _ in parts)
        with connection.cursor() as cursor:
            cursor.execute(sql, [param for _, params in parts for param in params])
            return ArchiveFacts(*map(bool, cursor.fetchone()))

    return cached_with_request("archive-facts", [], compute, request)


def cache_key(kind: str, parts: Iterable[Any], version: Version) -> str:
    digest = hashlib.sha1("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"notices:{kind}:{version.token}:{digest}"


def cached(
    kind: str,
    parts: Iterable[Any],
    compute: Callable[[], T],
    *,
    request: HttpRequest | None = None,
) -> T:
    """compute(), or its value cached for the current data version under (kind, parts)."""
    key = cache_key(kind, parts, request_version(request))
    value = cache.get(key)
    if value is None:
        value = compute()
        if _storable():
            cache.set(key, value, CACHE_SECONDS)
    return value


def cached_with_request(
    kind: str, parts: Iterable[Any], compute: Callable[[], T], request: HttpRequest | None
) -> T:
    """cached() where the request, which reads the data version once, is known; compute()
    without one, where reading the version would cost a query like the one it saves."""
    return compute() if request is None else cached(kind, parts, compute, request=request)


def response_key_parts(request: HttpRequest, reads: Iterable[str]) -> list[str]:
    """The absolute URL with only the parameters the page reads (in the order given), and
    the language: `/atom.xml?m=<random>` is the same entry as `/atom.xml` (issue 11)."""
    read = set(reads)
    kept = [(key, value) for key, values in request.GET.lists() if key in read for value in values]
    return [request.build_absolute_uri(request.path), urlencode(kept), get_language()]


def cached_response(
    request: HttpRequest,
    respond: Callable[[], HttpResponse],
    *,
    reads: Iterable[str],
    extra: Iterable[Any] = (),
) -> HttpResponse:
    """respond(), or the bytes it gave for this URL (its `reads` parameters) and language in
    this data version (and `extra`, what else it depends on: today's date for deadlines).
    The page must ignore every other parameter.

    Only for pages that are the same for every reader (feeds: no session, no CSRF token).
    """
    parts = [*response_key_parts(request, reads), *extra]
    stored = cache.get(cache_key("response", parts, request_version(request)))
    if stored is None:
        response = respond()
        if response.status_code != 200 or response.streaming or not _storable():
            return response
        headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
        stored = (response.content, headers)
        cache.set(cache_key("response", parts, request_version(request)), stored, CACHE_SECONDS)
        return response
    content, headers = stored
    return HttpResponse(content, headers=headers)


# A page's CSRF token is the reader's own: stored pages hold this mark in its place.
_CSRF_FIELD = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')
_CSRF_MARK = b"\x00csrf-token\x00"
PAGE_HEADERS = ("Content-Type", "ETag", "Last-Modified")
# Larger pages (a few notices run to megabytes) are made each time: they would crowd out the
# rest of a local-memory cache, and their own body is most of their cost anyway.
PAGE_MAX_BYTES = 100_000


def stored_page(request: HttpRequest, parts: Iterable[Any]) -> HttpResponse | None:
    """The page stored under `parts` for the current data version, with this request's
    CSRF token, or None. Conditional requests get their 304 as from the view."""
    stored = cache.get(cache_key("page", parts, request_version(request)))
    if stored is None:
        return None
    content, headers = stored
    if _CSRF_MARK in content:
        content = content.replace(_CSRF_MARK, get_token(request).encode())
    response = HttpResponse(content, headers=headers)
    if "ETag" in headers or "Last-Modified" in headers:
        last_modified = headers.get("Last-Modified")
        return get_conditional_response(
            request,
            etag=headers.get("ETag"),
            last_modified=parse_http_date_safe(last_modified) if last_modified else None,
            response=response,
        )
    return response


def store_page(request: HttpRequest, parts: Iterable[Any], response: HttpResponse) -> None:
    """Keep a 200 page for stored_page(), for this data version (read before the page was
    made, so a write while it was made leaves it unreachable)."""
    if response.status_code != 200 or response.streaming or response.cookies:
        return  # a page that sets its own cookie is this reader's
    if len(response.content) > PAGE_MAX_BYTES or not _storable():
        return
    content = _CSRF_FIELD.sub(rb"\1" + _CSRF_MARK + rb"\2", response.content)
    headers = {name: response[name] for name in PAGE_HEADERS if response.has_header(name)}
    cache.set(cache_key("page", parts, request_version(request)), (content, headers), CACHE_SECONDS)


def queryset_key(queryset: QuerySet) -> str:
    """The SQL of a queryset with its parameters: what its results depend on."""
    sql, params = queryset.query.sql_with_params()
    return f"{queryset.db}:{sql}:{params!r}"
