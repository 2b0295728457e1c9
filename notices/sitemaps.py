"""sitemap.xml: every notice (with lastmod), category, tag, site and the index pages."""

from __future__ import annotations

import datetime as dt

from django.contrib.sitemaps import Sitemap
from django.db.models import Max, QuerySet
from django.urls import reverse
from taggit.models import Tag

from notices.feeds import notice_updated_at
from notices.models import Category, Notice


class NoticeSitemap(Sitemap):
    # Django's sitemap template renders ~7,000 URLs a second: 2,000 keep a page well under
    # a second; the index lists as many pages as needed.
    limit = 2_000

    def items(self) -> QuerySet[Notice]:
        return Notice.objects.published().only("urlname", "date", "updated", "edited_at")

    def lastmod(self, notice: Notice) -> dt.datetime:
        return notice_updated_at(notice)

    def get_latest_lastmod(self) -> dt.datetime | None:
        # The default walks every notice through lastmod(); three maxima in one query do.
        latest = Notice.objects.published().aggregate(
            date=Max("date"), updated=Max("updated"), edited=Max("edited_at")
        )
        return max((value for value in latest.values() if value), default=None)


class CategorySitemap(Sitemap):
    def items(self) -> QuerySet[Category]:
        return Category.objects.only("path").order_by("path")


class TagSitemap(Sitemap):
    def items(self) -> QuerySet[Tag]:
        return (
            Tag.objects.filter(notices_taggednotice_items__isnull=False)
            .distinct()
            .only("slug")
            .order_by("slug")
        )

    def location(self, tag: Tag) -> str:
        return reverse("notices:tag", args=[tag.slug])


class SiteSitemap(Sitemap):
    def items(self) -> QuerySet:
        return (
            Notice.objects.exclude(site="")
            .order_by("site")
            .values_list("site", flat=True)
            .distinct()
        )

    def location(self, site: str) -> str:
        return reverse("notices:site", args=[site])


class IndexSitemap(Sitemap):
    def items(self) -> list[str]:
        return [
            "notices:list",
            "notices:categories",
            "notices:tags",
            "notices:sites",
            "notices:archive",
        ]

    def location(self, name: str) -> str:
        return reverse(name)


SITEMAPS = {
    "pages": IndexSitemap,
    "notices": NoticeSitemap,
    "categories": CategorySitemap,
    "tags": TagSitemap,
    "sites": SiteSitemap,
}
