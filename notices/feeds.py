"""Atom and RSS feeds: the whole site (narrowed by the list filters in the query string) and
each category, tag and site. Entries carry the original-source link: in the content for
every reader, and as Atom's `<link rel="via">`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import Case, F, QuerySet, TextField, Value, When
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from notices import deadlines
from notices.caching import cached, cached_response, request_version
from notices.filters import (
    CARRIED_PARAMS,
    FILTER_PARAMS,
    NoticeFilters,
    is_wide,
    listable,
    scoped_filters,
)
from notices.models import Notice
from notices.search import parse_query, search_notices
from notices.templatetags.deadlines import LABELS
from notices.templatetags.notices import url_host

FEED_LENGTH = 30
_XML_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Everything a feed reads from the query string (the filters, and `q`/`sort` carried into
# its link); the cache key keeps only these (issue 11).
FEED_PARAMS = (*FILTER_PARAMS, *CARRIED_PARAMS)
# The URL argument naming each scope's category, tag or site (notices/urls.py).
_SCOPE_ARGS = (("category", "path"), ("tag", "slug"), ("site", "site"))


def bounded_entries(notices: QuerySet[Notice]) -> list[Notice]:
    """The first FEED_LENGTH notices, each with `feed_html`: its body when the body is at most
    NOTICES_FEED_ENTRY_CHARS and the feed's bodies so far stay within NOTICES_FEED_TOTAL_CHARS,
    else "" (the entry then carries its summary). Longer bodies are never read from the
    database: a 4.5 MB body made every feed 14 MB (issue 11)."""
    entry_limit = settings.NOTICES_FEED_ENTRY_CHARS
    budget = settings.NOTICES_FEED_TOTAL_CHARS
    rows = (
        notices.defer("body", "extra", "body_html", "attachments", "signature")
        .annotate(body_length=Length("body_html"))
        .annotate(
            short_body=Case(
                When(body_length__lte=entry_limit, then=F("body_html")),
                default=Value(""),
                output_field=TextField(),
            )
        )
        .prefetch_related("tags")[:FEED_LENGTH]
    )
    entries = list(rows)
    for notice in entries:
        fits = bool(notice.short_body) and len(notice.short_body) <= budget
        notice.feed_html = notice.short_body if fits else ""
        budget -= len(notice.feed_html)
    return entries


def notice_updated_at(notice: Notice) -> dt.datetime:
    """When the notice last changed: its date, the author's `updated:` or an admin edit.
    Not the import time: a first import would make every notice look changed today."""
    return max(d for d in (notice.date, notice.updated, notice.edited_at) if d)


class QuietWhenEmpty:
    """A feed's own <updated> (RSS lastBuildDate) is its newest entry's; with no entries,
    Django's "now" would tell readers something changed now: the data's last change instead."""

    feed: dict[str, Any]
    items: list[dict[str, Any]]

    def latest_post_date(self) -> dt.datetime:
        if not self.items and self.feed.get("data_changed_at"):
            return self.feed["data_changed_at"]
        return super().latest_post_date()  # type: ignore[misc]


class RssFeed(QuietWhenEmpty, Rss201rev2Feed):
    pass


class AtomWithSourceFeed(QuietWhenEmpty, Atom1Feed):
    def add_item_elements(self, handler, item) -> None:
        super().add_item_elements(handler, item)
        if item.get("source_url"):
            handler.addQuickElement("link", "", {"rel": "via", "href": item["source_url"]})


class NoticeRssFeed(Feed):
    feed_type = RssFeed

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Thirty rendered bodies: the same bytes for everyone until the data changes (issue 5).
        respond = super().__call__
        return cached_response(
            request, lambda: respond(request, *args, **kwargs), reads=FEED_PARAMS
        )

    def get_feed(self, obj: dict[str, Any], request: HttpRequest):
        obj["request"] = request  # items() has none: for the data version, read once
        feed = super().get_feed(obj, request)
        feed.feed["data_changed_at"] = request_version(request).changed_at
        return feed

    def get_object(self, request: HttpRequest, **kwargs: str) -> dict[str, Any]:
        # The URL's own category, tag or site, looked up as its page looks it up.
        kind, key = next(
            ((kind, kwargs[arg]) for kind, arg in _SCOPE_ARGS if arg in kwargs), (None, "")
        )
        filters = scoped_filters(request.GET, kind, key)
        # A category or tag holding many notices walks the (date, id) index newest first, as
        # its list does, rather than sorting all of its rows (issue 13).
        wide = cached("wide", [filters.count_scope()], lambda: is_wide(filters), request=request)
        if kind == "category":
            return {"filters": filters, "wide": wide, "title": filters.category.full_name,
                    "link": filters.category.get_absolute_url()}  # fmt: skip
        if kind == "tag":
            tag = filters.page_tags[0]
            return {"filters": filters, "wide": wide, "title": tag.name,
                    "link": reverse("notices:tag", args=[tag.slug])}  # fmt: skip
        if kind == "site":
            return {"filters": filters, "wide": wide, "title": key,
                    "link": reverse("notices:site", args=[key])}  # fmt: skip
        query = filters.query()
        link = reverse("notices:list") + (f"?{query}" if query else "")
        return {"filters": filters, "wide": wide, "title": "", "link": link}

    def title(self, obj: dict[str, Any]) -> str:
        site_name = _("Noticeboard")
        return f"{obj['title']} · {site_name}" if obj["title"] else site_name

    def link(self, obj: dict[str, Any]) -> str:
        return obj["link"]

    def description(self, obj: dict[str, Any]) -> str:
        return _("The latest notices in the archive.")

    def items(self, obj: dict[str, Any]):
        filters = obj["filters"]
        notices = filters.apply(listable(obj.get("request")), wide=obj.get("wide", False))
        # One entry per group of copies, as the list.
        return bounded_entries(filters.shown(notices, obj.get("request")))

    def item_title(self, notice: Notice) -> str:
        return notice.title

    def item_description(self, notice: Notice) -> str:
        # body_html was sanitised when the notice was imported or saved.
        body = notice.feed_html or format_html(
            "<p>{}</p><p><em>{}</em></p>",
            notice.summary,
            _("This notice is too long for the feed; its page has the whole text."),
        )
        if not notice.source_url:
            return body
        return body + format_html(
            '<p><a href="{}">{}</a> {}</p>',
            notice.source_url,
            _("View original"),
            url_host(notice.source_url),
        )

    def item_pubdate(self, notice: Notice) -> dt.datetime:
        return notice.date

    def item_updateddate(self, notice: Notice) -> dt.datetime:
        return notice_updated_at(notice)

    def item_author_name(self, notice: Notice) -> str:
        return notice.site

    def item_categories(self, notice: Notice) -> list[str]:
        return [tag.name for tag in notice.tags.all()]

    def item_extra_kwargs(self, notice: Notice) -> dict[str, Any]:
        return {"source_url": notice.source_url}


class NoticeAtomFeed(NoticeRssFeed):
    feed_type = AtomWithSourceFeed

    def subtitle(self, obj: dict[str, Any]) -> str:
        return self.description(obj)


class SearchRssFeed(NoticeRssFeed):
    """The newest notices matching a search (`?q=` plus the list filters): subscribe to 奖学金."""

    def get_object(self, request: HttpRequest, **kwargs: str) -> dict[str, Any]:
        # XML 1.0 cannot hold C0 controls (a 500 for ?q=0%1F0); a query never needs them.
        query_text = _XML_CONTROLS.sub("", request.GET.get("q", "")).strip()
        filters = NoticeFilters.from_params(request.GET)
        link = reverse("notices:search") + "?" + filters.query()
        return {"filters": filters, "query": parse_query(query_text), "title": query_text,
                "link": link}  # fmt: skip

    def description(self, obj: dict[str, Any]) -> str:
        return _("The latest notices matching “%(query)s”.") % {"query": obj["title"]}

    def feed_extra_kwargs(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {}  # Django's Feed already passes the active language

    def items(self, obj: dict[str, Any]):
        filters = obj["filters"]
        notices = filters.apply(Notice.objects.published())
        folds = filters.folds_copies(obj.get("request"))
        found = search_notices(obj["query"], notices, sort="newest", one_per_group=folds).notices
        return bounded_entries(found.order_by("-date", "-id"))


class SearchAtomFeed(SearchRssFeed):
    feed_type = AtomWithSourceFeed

    def subtitle(self, obj: dict[str, Any]) -> str:
        return self.description(obj)


class DeadlineAtomFeed(NoticeAtomFeed):
    """即将截止: the notices whose deadline is today or ahead, soonest first (issue 15). Each
    entry opens with its deadline; the feed's bytes are kept per data version and day."""

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        respond = Feed.__call__
        return cached_response(
            request,
            lambda: respond(self, request, *args, **kwargs),
            reads=(),
            extra=[deadlines.today()],
        )

    def get_object(self, request: HttpRequest, **kwargs: str) -> dict[str, Any]:
        return {"title": _("Deadlines"), "link": reverse("notices:deadlines")}

    def description(self, obj: dict[str, Any]) -> str:
        return _("Notices whose deadline is today or ahead, soonest first.")

    def items(self, obj: dict[str, Any]):
        from notices.views import upcoming_deadlines  # views import this module

        return bounded_entries(upcoming_deadlines(obj.get("request")))

    def item_description(self, notice: Notice) -> str:
        line = format_html(
            "<p><strong>{}</strong></p>",
            _("%(label)s: %(date)s")
            % {"label": LABELS.get(notice.deadline_label, LABELS["截止"]),
               "date": date_format(notice.deadline, "DATE_FORMAT")},
        )  # fmt: skip
        return line + super().item_description(notice)
