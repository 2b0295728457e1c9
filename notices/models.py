from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase

from notices.rendering import (
    LinkResolver,
    PostResolver,
    render_limit,
    render_notice,
    summarize,
)


def category_slug(name: str) -> str:
    # Dots would vanish in slugify ("hrbeu.com.cn" -> "hrbeucomcn"); Hexo keeps them as dashes.
    return slugify(name.replace(".", "-"), allow_unicode=True) or "category"


class Category(models.Model):
    """A node of the category tree; a document's `categories: [a, b]` is the path a > b."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=120, allow_unicode=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
    )
    # Slash-joined slugs from the root ("hrbeu-com-cn/哈尔滨工程大学"): the URL and an
    # index for "this category and everything below it".
    path = models.CharField(_("path"), max_length=1000, unique=True, editable=False)
    # Names from the root, as "hrbeu.com.cn > 哈尔滨工程大学": shown without walking the tree.
    full_name = models.CharField(_("full name"), max_length=1000, editable=False)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ("path",)
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="category_unique_name_in_parent"
            ),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent=None), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.name

    def get_absolute_url(self) -> str:
        return reverse("notices:category", args=[self.path])

    def ancestor_paths(self) -> list[str]:
        parts = self.path.split("/")
        return ["/".join(parts[:i]) for i in range(1, len(parts))]

    def fill_path(self) -> None:
        """Set slug, path and full_name from name and parent, keeping the path unique."""
        parent = self.parent if self.parent_id else None
        base_slug = self.slug or category_slug(self.name)
        slug, suffix = base_slug, 1
        while True:
            path = f"{parent.path}/{slug}" if parent else slug
            clash = Category.objects.filter(path=path).exclude(pk=self.pk).exists()
            if not clash:
                break
            suffix += 1
            slug = f"{base_slug}-{suffix}"
        self.slug, self.path = slug, path
        self.full_name = f"{parent.full_name} > {self.name}" if parent else self.name

    def save(self, *args, **kwargs) -> None:
        old_path = self.path
        self.fill_path()
        super().save(*args, **kwargs)
        if old_path and old_path != self.path:
            # A renamed or moved category moves its whole subtree.
            for child in self.children.all():
                child.save()


class TaggedNotice(TaggedItemBase):
    """A real foreign key through table: joins stay indexed and referential."""

    content_object = models.ForeignKey("Notice", on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("tagged notice")
        verbose_name_plural = _("tagged notices")
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="taggednotice_unique")
        ]
        # A tag's notices newest first, read from the index alone (related notices, issue 5).
        indexes = [models.Index(fields=["tag", "-content_object"], name="taggednotice_tag_notice")]


class DateSource(models.TextChoices):
    FRONT_MATTER = "front_matter", _("front matter")
    FILE_NAME = "file_name", _("file name (guessed)")
    FILE_MTIME = "file_mtime", _("file modification time (guessed)")


class NoticeQuerySet(models.QuerySet):
    def published(self) -> NoticeQuerySet:
        # A notice without a urlname has no page (a row from before the admin generated one):
        # every list, feed, sitemap and search skips it instead of failing to link it.
        return self.exclude(urlname="")

    def for_list(self) -> NoticeQuerySet:
        """What list pages show: no bodies, categories and tags in two extra queries."""
        return self.defer("body", "body_html", "extra").prefetch_related("categories", "tags")


class NoticeVersionFields(models.Model):
    """What a version keeps beside the notice's own fields: its tags and categories as names
    (a category may be gone by the time the version is restored; it is made again)."""

    tag_names = models.JSONField(_("tags"), default=list, blank=True)
    # Each category as its path of names from the root, in the notice's order.
    category_paths = models.JSONField(_("categories"), default=list, blank=True)

    class Meta:
        abstract = True


class Notice(models.Model):
    urlname = models.CharField(_("urlname"), max_length=200, unique=True)
    title = models.CharField(_("title"), max_length=500)
    raw_title = models.CharField(_("title as written"), max_length=500)
    site = models.CharField(_("site"), max_length=200, blank=True, db_index=True)
    domain = models.CharField(_("domain"), max_length=200, blank=True)
    date = models.DateTimeField(_("date"))
    body = models.TextField(_("body (Markdown)"))
    body_html = models.TextField(_("body (HTML)"), blank=True, editable=False)
    summary = models.CharField(_("summary"), max_length=200, blank=True, editable=False)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    extra = models.JSONField(_("other front matter"), default=dict, blank=True)
    source_path = models.CharField(_("source file"), max_length=1000, blank=True, db_index=True)
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    imported_at = models.DateTimeField(_("imported at"), null=True, blank=True)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    # Where `date` came from: the file's own `date:`, or a guess Hexo and Jekyll would make
    # too (the file name's date, then its modification time). A guess is never exported.
    date_source = models.CharField(
        _("date from"), max_length=12, choices=DateSource.choices, default=DateSource.FRONT_MATTER
    )
    # Hexo's `updated:`: when the author last changed the post (feeds, sitemap lastmod).
    updated = models.DateTimeField(_("updated"), null=True, blank=True)
    # Hexo's `:title` (front-matter `slug:`, else the file name without its date prefix):
    # what `{% post_link %}` and permalinks name a post by.
    slug = models.CharField(_("slug"), max_length=200, blank=True, db_index=True)
    # The file's front matter exactly as written, delimiters included, and how its bytes
    # were encoded ({"encoding", "bom", "newline"}): front_matter + body is the file's text,
    # so an unedited notice exports byte for byte (issue 9).
    front_matter = models.TextField(_("front matter as written"), blank=True, editable=False)
    source_format = models.JSONField(_("file format"), default=dict, blank=True, editable=False)
    # The import folder the file was read from: the same relative path in another folder is
    # another file.
    archive_root = models.CharField(_("archive folder"), max_length=1000, blank=True)
    # The sha256 of a newer file an import held back because the notice was edited here
    # (notices/sync.py): the conflict the change list can filter by without reading files.
    held_back_hash = models.CharField(
        _("held-back file hash"), max_length=64, null=True, blank=True, editable=False
    )

    categories = models.ManyToManyField(
        Category, verbose_name=_("categories"), blank=True, related_name="notices"
    )
    tags = TaggableManager(verbose_name=_("tags"), through=TaggedNotice, blank=True)

    objects = NoticeQuerySet.as_manager()
    # Every version, from each import (written in bulk with its batch) and each admin save
    # (notices/history.py). The derived HTML and summary are rendered again on restore.
    history = HistoricalRecords(
        verbose_name=_("notice version"),
        verbose_name_plural=_("notice versions"),
        bases=[NoticeVersionFields],
        excluded_fields=["body_html", "summary", "held_back_hash"],
        history_change_reason_field=models.TextField(null=True),
        # Versions are looked up by notice and date; these indexes would only slow imports.
        no_db_index=["urlname", "site", "source_path", "slug"],
    )

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ("-date", "-id")
        indexes = [models.Index(fields=["-date", "-id"], name="notice_date_id")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("notices:detail", args=[self.urlname])

    def render(
        self,
        *,
        resolve_post: PostResolver | None = None,
        resolve_link: LinkResolver | None = None,
    ) -> None:
        """Fill the derived fields from `body` (call before saving; bulk writes skip save()).

        `resolve_post(name)` gives the title of the notice a `{% post_link name %}` names (the
        link text when the tag gives none); without it the name is shown. The summary is
        front-matter `excerpt:`/`description:` from `extra`, else the text before Hexo's
        `<!-- more -->`, else the start of the body (issue 9). `resolve_link(href)` points links
        to another post's old address at its page here.
        """
        rendered = render_notice(
            self.body, self.source_url, resolve_post=resolve_post, resolve_link=resolve_link
        )
        self.body_html = rendered.html
        self.summary = summarize(rendered, self.extra or {})
        # Which rendering limit the body passed, for the importer's warning (issue 11).
        self.render_limit = render_limit(rendered.html)

    @property
    def was_edited_since_import(self) -> bool:
        return bool(self.edited_at and (not self.imported_at or self.edited_at > self.imported_at))

    def mark_edited(self) -> None:
        self.edited_at = timezone.now()


class OldAddress(models.Model):
    """An address a notice had on the site it came from (Hexo/Jekyll permalink): requests for
    it are answered with a 301 to the notice (notices/permalinks.py normalises the path)."""

    path = models.CharField(_("path"), max_length=1000, unique=True)
    notice = models.ForeignKey(
        Notice, verbose_name=_("notice"), on_delete=models.CASCADE, related_name="old_addresses"
    )

    class Meta:
        verbose_name = _("old address")
        verbose_name_plural = _("old addresses")

    def __str__(self) -> str:
        return "/" + self.path


class SearchDocument(models.Model):
    """A notice's title and body as search normalised them; notices/search.py owns this table
    (on PostgreSQL it also has the tsvector column; on SQLite an FTS5 table sits beside it)."""

    notice = models.OneToOneField(
        Notice, on_delete=models.CASCADE, primary_key=True, related_name="search_document"
    )
    # Orders by date, then id: the FTS5 rowid on SQLite, so newest-first pages are cheap.
    sort_key = models.BigIntegerField(unique=True)
    title = models.TextField()
    body = models.TextField()

    class Meta:
        verbose_name = _("search document")
        verbose_name_plural = _("search documents")


class DataVersion(models.Model):
    """One row whose token changes with every write to notices, tags or categories.

    Cached pages, counts and facets are keyed by the token (notices/caching.py), so an
    import or an admin edit makes every cached value unreachable at once, on every app
    server, inside the same transaction as the write (issue 5).
    """

    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("data version")
        verbose_name_plural = _("data versions")

    def __str__(self) -> str:
        return self.token
