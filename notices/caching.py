"""Cached counts, facets and page anchors that are never stale after a write (issue 5).

Every cached value is keyed by the data version: a token in one database row that changes
in the same transaction as any write to notices, tags or categories. The importer bumps it
once per batch (bulk writes send no signals); every other write through the ORM (the
admin, scripts, tests) bumps it through the model signals connected in apps.py. A reader
therefore sees either the old data with the old cached values or the new data with
freshly computed ones, on every app server, whatever the cache backend (local memory
on one host, Redis when REDIS_URL is set).

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
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import parse_http_date_safe
from django.utils.translation import get_language

from notices.models import DataVersion

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
    if isinstance(changed_at, str):
        changed_at = dt.datetime.fromisoformat(changed_at)
    if timezone.is_naive(changed_at):  # SQLite keeps UTC without its zone
        changed_at = changed_at.replace(tzinfo=dt.UTC)
    return Version(token, changed_at)


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
    """Make every cached value unreachable; call inside the transaction that writes."""
    version = Version(uuid.uuid4().hex, timezone.now())
    updated = DataVersion.objects.filter(id=_ROW_ID).update(
        token=version.token, changed_at=version.changed_at
    )
    if not updated:
        DataVersion.objects.update_or_create(
            id=_ROW_ID, defaults={"token": version.token, "changed_at": version.changed_at}
        )
    return version


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
        cache.set(key, value, CACHE_SECONDS)
    return value


def response_key_parts(request: HttpRequest, reads: Iterable[str]) -> list[str]:
    """The absolute URL with only the parameters the page reads (in the order given), and
    the language: `/atom.xml?m=<random>` is the same entry as `/atom.xml` (issue 11)."""
    read = set(reads)
    kept = [(key, value) for key, values in request.GET.lists() if key in read for value in values]
    return [request.build_absolute_uri(request.path), urlencode(kept), get_language()]


def cached_response(
    request: HttpRequest, respond: Callable[[], HttpResponse], *, reads: Iterable[str]
) -> HttpResponse:
    """respond(), or the bytes it gave for this URL (its `reads` parameters) and language in
    this data version. The page must ignore every other parameter.

    Only for pages that are the same for every reader (feeds: no session, no CSRF token).
    """
    parts = response_key_parts(request, reads)
    stored = cache.get(cache_key("response", parts, request_version(request)))
    if stored is None:
        response = respond()
        if response.status_code != 200 or response.streaming:
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
    if len(response.content) > PAGE_MAX_BYTES:
        return
    content = _CSRF_FIELD.sub(rb"\1" + _CSRF_MARK + rb"\2", response.content)
    headers = {name: response[name] for name in PAGE_HEADERS if response.has_header(name)}
    cache.set(cache_key("page", parts, request_version(request)), (content, headers), CACHE_SECONDS)


def queryset_key(queryset: QuerySet) -> str:
    """The SQL of a queryset with its parameters: what its results depend on."""
    sql, params = queryset.query.sql_with_params()
    return f"{queryset.db}:{sql}:{params!r}"


def bump_on_write(sender: type, **kwargs: Any) -> None:
    """Signal receiver: any saved or deleted notice, tag link or category changes pages."""
    if kwargs.get("raw"):  # loaddata: the fixture's own rows, no side effects
        return
    action = kwargs.get("action")
    if action is not None and not action.startswith("post_"):
        return  # m2m_changed fires pre_ and post_; one bump is enough
    bump_data_version()
