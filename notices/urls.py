from __future__ import annotations

from django.contrib.sitemaps import views as sitemap_views
from django.templatetags.static import static
from django.urls import path, register_converter
from django.urls.converters import PathConverter, StringConverter
from django.utils.functional import lazy
from django.views.generic import RedirectView

from notices import feeds, views
from notices.sitemaps import SITEMAPS


# Django's str/path converters, minus NUL: PostgreSQL cannot compare text with NUL in it, so
# such a URL would be a 500 instead of a 404.
class TextConverter(StringConverter):
    regex = r"[^/\x00]+"


class TextPathConverter(PathConverter):
    regex = r"[^\x00]+"


register_converter(TextConverter, "text")
register_converter(TextPathConverter, "textpath")

app_name = "notices"

# Tag and category slugs are Unicode (taggit's allow_unicode): <text:>/<textpath:>, not <slug:>.
# Feeds end in atom.xml / rss.xml: a dot never appears in a slug, so no category or tag can
# shadow them.
urlpatterns = [
    path("", views.notice_list, name="list"),
    path("notices/<text:urlname>/", views.notice_detail, name="detail"),
    # Hexo's post_link names a post by its file: folders too (`2018/slug`), so a path.
    path("posts/<textpath:name>/", views.post_by_name, name="post"),
    path("categories/", views.category_index, name="categories"),
    path("categories/<textpath:path>/atom.xml", feeds.NoticeAtomFeed(), name="category-atom"),
    path("categories/<textpath:path>/rss.xml", feeds.NoticeRssFeed(), name="category-rss"),
    path("categories/<textpath:path>/", views.category_detail, name="category"),
    path("tags/", views.tag_index, name="tags"),
    path("tags/<text:slug>/atom.xml", feeds.NoticeAtomFeed(), name="tag-atom"),
    path("tags/<text:slug>/rss.xml", feeds.NoticeRssFeed(), name="tag-rss"),
    path("tags/<text:slug>/", views.tag_detail, name="tag"),
    path("sites/", views.site_index, name="sites"),
    path("sites/<textpath:site>/atom.xml", feeds.NoticeAtomFeed(), name="site-atom"),
    path("sites/<textpath:site>/rss.xml", feeds.NoticeRssFeed(), name="site-rss"),
    path("sites/<textpath:site>/", views.site_detail, name="site"),
    path("facets/<text:facet>/", views.facet_detail, name="facet"),
    path("deadlines/", views.deadline_list, name="deadlines"),
    path("deadlines/atom.xml", feeds.DeadlineAtomFeed(), name="deadlines-atom"),
    path("archive/", views.archive_index, name="archive"),
    path("archive/<int:year>/", views.archive_year, name="archive-year"),
    path("archive/<int:year>/<int:month>/", views.archive_month, name="archive-month"),
    path("atom.xml", feeds.NoticeAtomFeed(), name="feed-atom"),
    path("rss.xml", feeds.NoticeRssFeed(), name="feed-rss"),
    path("sitemap.xml", sitemap_views.index, {"sitemaps": SITEMAPS,
         "sitemap_url_name": "notices:sitemap-section"}, name="sitemap"),
    path("sitemap-<section>.xml", sitemap_views.sitemap, {"sitemaps": SITEMAPS},
         name="sitemap-section"),
    path("robots.txt", views.robots_txt, name="robots"),
    # Browsers and crawlers ask for /favicon.ico whatever the page links: send them the SVG.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")),
         name="favicon"),
    path("search/", views.search, name="search"),
    path("search/atom.xml", feeds.SearchAtomFeed(), name="search-atom"),
    path("search/rss.xml", feeds.SearchRssFeed(), name="search-rss"),
    path("opensearch.xml", views.opensearch, name="opensearch"),
    path("api/openapi.yaml", views.openapi_description, name="openapi"),
]  # fmt: skip
