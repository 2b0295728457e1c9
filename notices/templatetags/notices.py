"""Template helpers the notice pages need: page links that keep the query, and a URL's host."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import template
from django.http import HttpRequest

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    """`?…&page=N` keeping every other parameter (filters, a search's q) but `format`."""
    request: HttpRequest | None = context.get("request")
    query = request.GET.copy() if request is not None else None
    if query is None:
        return f"?page={number}"
    query.pop("format", None)
    if number == 1:
        query.pop("page", None)
    else:
        query["page"] = str(number)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else request.path


@register.filter
def url_host(url: str) -> str:
    """The host of a URL without `www.` ("news.hrbeu.edu.cn"), or "" when it has none."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")
