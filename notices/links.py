"""Addresses of notices, categories, tags and sites built without a reverse() each.

A search page links each of its 20 hits and their categories, and its facets a few dozen
values: some 33 reverse() calls a page at ~50 us each (issue 13). Notice and Category's
get_absolute_url() and the facets use url_maker(); the {% site_url %} tag, fixed_url().
A route is reversed once per URL configuration and script prefix with a mark in place of
its one argument, and the value is quoted into it as reverse() quotes it (character by
character, the same safe set). A value the route's converter would refuse still goes
through reverse(), and fails as it would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote

from django.conf import settings
from django.urls import base as urls_base
from django.urls import get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS

# What reverse() leaves unquoted in a path (django.urls.resolvers._reverse_with_prefix).
_SAFE = RFC3986_SUBDELIMS + "/~:@"
# Not a value any route takes (no real urlname, path or slug holds a space and a colon).
_MARK = "route mark:"
# The routes taking one text or path argument, and whether it may hold a slash (<textpath:>).
_SLASH_ALLOWED = {
    "notices:detail": False,
    "notices:tag": False,
    "notices:category": True,
    "notices:site": True,
}


def url_maker(name: str) -> Callable[[str], str]:
    """reverse(name, args=[value]) as a function of the value, for the routes of
    _SLASH_ALLOWED."""
    return _url_maker(name, settings.ROOT_URLCONF, get_urlconf(), urls_base.get_script_prefix())


@functools.lru_cache(maxsize=64)
def _url_maker(name: str, root: str, urlconf: str | None, prefix: str) -> Callable[[str], str]:
    slash = _SLASH_ALLOWED[name]
    before, after = reverse(name, args=[_MARK], urlconf=urlconf).split(quote(_MARK, safe=_SAFE))

    def url(value: str) -> str:
        value = str(value)
        if not value or "\x00" in value or (not slash and "/" in value) or value[0] == "/":
            return reverse(name, args=[value], urlconf=urlconf)
        return before + quote(value, safe=_SAFE) + after

    return url


def fixed_url(name: str) -> str:
    """reverse(name) for a route without arguments, once per URL configuration and prefix."""
    return _fixed_url(name, settings.ROOT_URLCONF, get_urlconf(), urls_base.get_script_prefix())


@functools.lru_cache(maxsize=128)
def _fixed_url(name: str, root: str, urlconf: str | None, prefix: str) -> str:
    return reverse(name, urlconf=urlconf)
