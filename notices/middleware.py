"""Faults and abuse at the edge: a 503 page while the database is away, and a throttle on
admin logins (issue 6)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import reverse
from django.views.defaults import server_error as default_server_error

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the database is down or restarting; the next request reconnects."""
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


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """handler500: errors outside views (sessions, other middleware) get the 503 page too."""
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    return default_server_error(request, template_name)


class AdminLoginThrottleMiddleware:
    """After ADMIN_LOGIN_MAX_FAILURES failed admin logins from one address within
    ADMIN_LOGIN_LOCKOUT_SECONDS, further login attempts from it get 429 until the window ends.

    Counts live in the cache (shared between workers when REDIS_URL is set). The address is
    REMOTE_ADDR: behind a reverse proxy, have the proxy pass the client's address through.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != reverse("admin:login"):
            return self.get_response(request)
        key = f"admin-login-failures:{request.META.get('REMOTE_ADDR', '')}"
        limit = settings.ADMIN_LOGIN_MAX_FAILURES
        window = settings.ADMIN_LOGIN_LOCKOUT_SECONDS
        if (cache.get(key) or 0) >= limit:
            response = HttpResponse(
                loader.render_to_string("429.html", {"minutes": max(window // 60, 1)}, request),
                status=429,
            )
            response["Retry-After"] = str(window)
            return response
        response = self.get_response(request)
        # The admin redirects after a good login and shows the form again after a bad one.
        if response.status_code == 200:
            if cache.add(key, 1, timeout=window) is False:
                try:
                    cache.incr(key)
                except ValueError:  # expired between add() and incr()
                    cache.set(key, 1, timeout=window)
        elif response.status_code in (301, 302, 303):
            cache.delete(key)
        return response
