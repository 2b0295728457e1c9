"""Template helpers the notice pages need: page links that keep the query, a URL's host, the
site's fixed addresses reversed once, and a list's notices from fragments kept per notice."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from urllib.parse import urlsplit

from django import template
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import get_script_prefix
from django.utils import formats, timezone
from django.utils.encoding import escape_uri_path
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from notices import deadlines
from notices.caching import CACHE_SECONDS
from notices.filters import LINK_PARAMS, known_params
from notices.links import fixed_url
from notices.models import Notice

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
    return fixed_url(name)


@register.simple_tag
def time_tag(value: dt.datetime | None) -> str:
    """`<time datetime="{{ value|date:'c' }}">{{ value|date:"DATE_FORMAT" }}</time>` from one
    conversion to local time, the date's text kept per day and language: the two filters
    were 1.4 ms of a search page's 20 hits (issue 13)."""
    if value is None:
        return ""
    local = timezone.template_localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>', local.isoformat(), _date_text(local.date(), get_language())
    )


@functools.lru_cache(maxsize=4096)
def _date_text(day: dt.date, language: str | None) -> str:
    # DATE_FORMAT holds date parts only: the day and the language decide it.
    return formats.date_format(day, "DATE_FORMAT")


# The templates one list entry is made of: their source is part of every entry's key, so a
# deploy that changes them does not serve entries made by the old ones from a shared cache.
ITEM_TEMPLATES = (
    "includes/notice_item.html",
    "includes/notice_meta.html",
    "includes/deadline.html",
)


@register.simple_tag(takes_context=True)
def notice_items(
    context: template.Context, notices: Iterable[Notice], show_deadline: bool = False
) -> SafeString:
    """Each notice of a list as includes/notice_item.html renders it, from a fragment kept
    under everything the entry shows (title, date, site, summary, group size, categories
    and tags as loaded for the list, the deadline and today's date): an entry is a function
    of its key, so no data version is needed and a write re-renders only the entries it
    changed. Rendering 20 entries was a third of a list's first view after a write
    (issue 13)."""
    notices = list(notices)
    # With DEBUG, templates are read again when they change (runserver): so is their digest.
    templates = _templates_digest.__wrapped__() if settings.DEBUG else _templates_digest()
    keys = [_item_key(notice, show_deadline, templates) for notice in notices]
    found = cache.get_many(keys) if keys else {}
    item = context.template.engine.get_template(ITEM_TEMPLATES[0])
    made: dict[str, str] = {}
    parts = []
    for key, notice in zip(keys, notices, strict=True):
        html = found.get(key)
        if html is None:
            # An isolated context: the entry depends on its key alone, not on the page.
            html = made[key] = item.render(
                context.new({"notice": notice, "show_deadline": show_deadline})
            )
        parts.append(html)
    if made:
        cache.set_many(made, CACHE_SECONDS)
    return mark_safe("".join(parts))  # noqa: S308  (rendered by our own templates)


def _item_key(notice: Notice, show_deadline: bool, templates: str) -> str:
    shown = [
        notice.pk, notice.urlname, notice.title, notice.date.isoformat(), notice.site,
        notice.summary, notice.group_size,
        [(c.pk, c.path, c.label) for c in notice.categories.all()],
        [(t.pk, t.slug, t.name) for t in notice.tags.all()],
        get_language(), timezone.get_current_timezone_name(), get_script_prefix(),
    ]  # fmt: skip
    if show_deadline:
        shown += [notice.deadline, notice.deadline_label, notice.deadline_phrase, deadlines.today()]
    digest = hashlib.sha1(repr(shown).encode()).hexdigest()
    return f"notices:item:{templates}:{digest}"


@functools.cache
def _templates_digest() -> str:
    engine = template.engines["django"].engine
    sources = (engine.get_template(name).source for name in ITEM_TEMPLATES)
    return hashlib.sha1("\x1f".join(sources).encode()).hexdigest()[:12]
