"""Template helpers the notice pages need: page links that keep the query, a URL's host, and
the site's fixed addresses reversed once."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.encoding import escape_uri_path

from notices.filters import LINK_PARAMS, known_params

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    """`?…&page=N` keeping the other parameters the page reads (filters, a search's q and
    sort) but `format`; unknown parameters are dropped (issue 11)."""
    request: HttpRequest | None = context.get("request")
    query = known_params(request.GET) if request is not None else None
    if query is None:
        return f"?page={number}"
    query.pop("format", None)
    if number == 1:
        query.pop("page", None)
    else:
        query["page"] = str(number)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else request.path


@register.simple_tag(takes_context=True)
def current_url(context: template.Context, drop: str = "") -> str:
    """This page's path with only the parameters pages read, but `drop` (the language form's
    `next`, a cache key): get_full_path would copy 999 made-up parameters into it (issue 11)."""
    request: HttpRequest | None = context.get("request")
    if request is None:
        return "/"
    kept = tuple(key for key in (*LINK_PARAMS, "highlight") if key != drop)
    encoded = known_params(request.GET, kept).urlencode()
    path = escape_uri_path(request.path)
    return f"{path}?{encoded}" if encoded else path


@register.filter
def url_host(url: str) -> str:
    """The host of a URL without `www.` ("news.hrbeu.edu.cn"), or "" when it has none."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


@register.simple_tag
def site_url(name: str) -> str:
    """`{% url name %}` for a route without arguments, reversed once per URL configuration
    and script prefix: every page's head, header and footer name the same ten addresses, and
    reversing them was a tenth of a detail page's time (issue 13)."""
    return _reversed(name, settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())


@functools.lru_cache(maxsize=128)
def _reversed(name: str, root_urlconf: str, urlconf: str | None, prefix: str) -> str:
    return reverse(name, urlconf=urlconf)
