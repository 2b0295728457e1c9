"""Faults and abuse at the edge: a 503 page while the database is away, a throttle on
admin logins (issue 6), and the error handlers, which answer JSON to JSON requests (issue 12)."""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import MiddlewareNotUsed
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found as default_page_not_found
from django.views.defaults import server_error as default_server_error

from notices import deadlines
from notices.caching import response_key_parts, store_page, stored_page
from notices.filters import LINK_PARAMS
from notices.serializers import error_response, requested_format, wants_json_error

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def _negotiated(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """An error page that is JSON or HTML by the request's Accept header: tell caches."""

    @functools.wraps(handler)
    def negotiated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = handler(request, *args, **kwargs)
        patch_vary_headers(response, ("Accept",))
        return response

    return negotiated


@_negotiated
def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the database is down or restarting; the next request reconnects."""
    if wants_json_error(request):
        message = f"The database is unavailable; retry after {RETRY_AFTER_SECONDS} seconds."
        response: HttpResponse = error_response(503, message)
    else:
        # A plain template: nothing on this page may need the database.
        html = loader.get_template("503.html").render({"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turn a lost database connection in a view into a 503 page instead of a traceback."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            logger.warning("database unavailable for %s: %s", request.path, exception)
            return database_unavailable(request)
        return None


@_negotiated
def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """handler500: errors outside views (sessions, other middleware) get the 503 page too."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    if wants_json_error(request):
        return error_response(500, "The server failed to answer this request.")
    return default_server_error(request, template_name)


@_negotiated
def bad_request(
    request: HttpRequest, exception: Exception, template_name: str = "400.html"
) -> HttpResponse:
    """handler400. The message stays generic: the exception may quote the request's Host."""
    if wants_json_error(request):
        return error_response(400, "The request is malformed or too large.")
    return default_bad_request(request, exception, template_name)


@_negotiated
def page_not_found(
    request: HttpRequest, exception: Exception, template_name: str = "404.html"
) -> HttpResponse:
    """handler404. An Http404 raised with a text ("No such tag.") gives that text; the
    resolver's own (the URL patterns tried) is never shown."""
    if wants_json_error(request):
        message = exception.args[0] if exception.args else ""
        if not isinstance(message, str) or not message:
            message = "There is no page at this address."
        return error_response(404, message)
    return default_page_not_found(request, exception, template_name)


class PageCacheMiddleware:
    """Whole pages for readers (issue 13): a GET of a list or detail page without a session
    is answered from the page made for the same URL (the parameters pages read), language
    and data version. The data version is read from the database on every request, so
    every app server sees a write at once, as with the cached counts (notices/caching.py).
    Staff (a session cookie) always get a page made for them. NOTICES_PAGE_CACHE=0 turns
    it off.
    """

    VIEWS = frozenset({"notices:list", "notices:detail", "notices:deadlines"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        parts = getattr(request, "_page_cache_parts", None)
        if parts is not None:
            store_page(request, parts, response)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if (
            not settings.NOTICES_PAGE_CACHE
            or request.method != "GET"
            or match is None
            or match.view_name not in self.VIEWS
            or settings.SESSION_COOKIE_NAME in request.COOKIES
            or requested_format(request) != "html"
        ):
            return None
        # With today's date: a deadline's "还剩 N 天" and the list of deadlines change at
        # midnight without a write (issue 15).
        parts = [*response_key_parts(request, (*LINK_PARAMS, "highlight")), str(deadlines.today())]
        response = stored_page(request, parts)
        if response is None:
            request._page_cache_parts = parts  # made by the view: __call__ keeps it
        return response


class SiteOriginMiddleware:
    """With NOTICES_SITE_URL set, every absolute URL a page builds (JSON `next` links, feeds,
    the sitemap, OpenSearch, robots.txt, canonical links) names that origin, never the
    client's Host header (a port, other letter case, a trailing dot: issue 11).

    The Host header is still checked against ALLOWED_HOSTS first (400 otherwise); then
    request.get_host() and request.scheme answer the configured origin. It runs after
    SecurityMiddleware, so the HTTPS redirect still sees the request as it came.
    Without the setting the middleware is left out: the request's own host and scheme.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        if not settings.NOTICES_SITE_URL:
            raise MiddlewareNotUsed
        self.get_response = get_response
        origin = urlsplit(settings.NOTICES_SITE_URL)
        self.scheme = origin.scheme
        self.host = origin.netloc
        self._request_classes: dict[type, type] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.get_host()  # DisallowedHost (400) for a Host not in ALLOWED_HOSTS, as before
        request.__class__ = self._with_origin(type(request))
        request.__dict__.pop("_current_scheme_host", None)  # a cached_property of Django's
        return self.get_response(request)

    def _with_origin(self, request_class: type) -> type:
        """`request_class` (WSGIRequest, ASGIRequest) answering the configured origin."""
        if request_class not in self._request_classes:
            scheme, host = self.scheme, self.host
            self._request_classes[request_class] = type(
                f"SiteOrigin{request_class.__name__}",
                (request_class,),
                {"scheme": property(lambda _request: scheme), "get_host": lambda _request: host},
            )
        return self._request_classes[request_class]


class AdminLoginThrottleMiddleware:
    """After ADMIN_LOGIN_MAX_FAILURES failed admin logins within ADMIN_LOGIN_LOCKOUT_SECONDS from
    one address, or for one username from any number of addresses, further login attempts from
    that address or for that username get 429 until the failures expire.

    Counts live in the "throttle" cache (Redis, or a database table: shared by every worker and
    app server). Each failure takes one of ADMIN_LOGIN_MAX_FAILURES slots with cache.add(), which
    is atomic on every backend, so concurrent guesses cannot slip past a read-then-write count.
    A slot is taken before the login is tried and given back when it succeeds; a good login
    clears only that username's own failures, never another account's (issue 11).
    The address is REMOTE_ADDR: behind a reverse proxy, have the proxy pass the client's through.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        throttle = caches["throttle"]
        window = settings.ADMIN_LOGIN_LOCKOUT_SECONDS
        username = _username_mark(request.POST.get("username", ""))
        address_key = f"admin-login-failures:address:{request.META.get('REMOTE_ADDR', '')}"
        username_key = f"admin-login-failures:username:{username}"
        taken = []
        for key in (address_key, username_key):
            slot = _take_slot(throttle, key, username, window)
            if slot is None:
                throttle.delete_many(taken)
                return _too_many_attempts(request, window)
            taken.append(slot)
        response = self.get_response(request)
        # The admin shows the form again after a bad password (200): its slots stay taken.
        # Anything else (a good login's redirect, a CSRF 403) was no wrong password.
        if response.status_code != 200:
            throttle.delete_many(taken)
        if response.status_code in (301, 302, 303):
            throttle.delete_many(_slots_of(throttle, address_key, username))
            throttle.delete_many(_slot_keys(username_key))
        return response


def _username_mark(username: str) -> str:
    """A fixed-length mark of a username (any length or alphabet) for cache keys and values."""
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]


def _slot_keys(key: str) -> list[str]:
    return [f"{key}:{index}" for index in range(settings.ADMIN_LOGIN_MAX_FAILURES)]


def _take_slot(throttle: BaseCache, key: str, username: str, window: int) -> str | None:
    """The first free failure slot of `key`, now taken (holding the username's mark), or None
    when all are taken: the limit is reached."""
    for slot in _slot_keys(key):
        if throttle.add(slot, username, timeout=window):
            return slot
    return None


def _slots_of(throttle: BaseCache, key: str, username: str) -> list[str]:
    """The slots of `key` taken by failures for `username`."""
    return [slot for slot, mark in throttle.get_many(_slot_keys(key)).items() if mark == username]


@_negotiated
def _too_many_attempts(request: HttpRequest, window: int) -> HttpResponse:
    if wants_json_error(request):
        message = f"Too many failed logins; try again in {window} seconds."
        response: HttpResponse = error_response(429, message)
    else:
        response = HttpResponse(
            loader.render_to_string("429.html", {"minutes": max(window // 60, 1)}, request),
            status=429,
        )
    response["Retry-After"] = str(window)
    return response
