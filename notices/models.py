from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from django.db import connection, models, transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase

from notices import attachments as attachment_links
from notices import grouping
from notices.deadlines import deadline_label, notice_deadline
from notices.links import url_maker
from notices.rendering import (
    LinkResolver,
    PostResolver,
    render_limit,
    render_notice,
    summarize,
)

# "nyou.edu.cn": a category the seed's documents name by the site's domain. A country code
# or a common generic top-level domain, so that "node.js" or "setup.py" stay names.
_DOMAIN_NAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.([a-z]{2}|com|net|org|edu|gov|info)$")
_FILE_SUFFIXES = {"js", "ts", "py", "rb", "go", "rs", "md", "sh", "pl", "cs", "kt", "db"}


def is_domain_name(name: str) -> bool:
    return bool(_DOMAIN_NAME.match(name)) and name.rsplit(".", 1)[-1] not in _FILE_SUFFIXES


def category_slug(name: str) -> str:
    # Dots would vanish in slugify ("hrbeu.com.cn" -> "hrbeucomcn"); Hexo keeps them as dashes.
    return slugify(name.replace(".", "-"), allow_unicode=True) or "category"


class CategoryQuerySet(models.QuerySet):
    """`labelled()`: the fetched categories get their labels in bulk (label_categories), so a
    list showing the categories of 20 notices asks twice at most, not twice per category."""

    _labelled = False

    def labelled(self) -> CategoryQuerySet:
        clone = self._chain()
        clone._labelled = True
        return clone

    def with_children(self) -> CategoryQuerySet:
        """Each row with `child_count` and `first_child_name`: what label_categories() needs
        to name a domain by its only sub-category, in the same query."""
        return self.annotate(child_count=Count("children"), first_child_name=Min("children__name"))

    def _clone(self) -> CategoryQuerySet:
        clone = super()._clone()
        clone._labelled = self._labelled
        return clone

    def _fetch_all(self) -> None:
        fetched = self._result_cache is not None
        super()._fetch_all()
        if self._labelled and not fetched:
            label_categories(c for c in self._result_cache if isinstance(c, Category))

    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete these categories and those below them, with the counts of their notices
        and one data-version bump (notices/counts.py, issue 14)."""
        from notices import counts  # counts imports this module

        with transaction.atomic(savepoint=False):  # counted where it is deleted
            category_ids = list(self.values_list("id", flat=True))
            if not category_ids:
                return 0, {}  # nothing to delete, nothing to bump (the importer's orphan loop)
            with counts.changing(counts.notice_ids_below(category_ids)):
                return super().delete()


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

    objects = CategoryQuerySet.as_manager()

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
        return url_maker("notices:category")(self.path)

    @property
    def label(self) -> str:
        """What readers see: the name, except that a category named by a domain
        ("nyou.edu.cn") is shown as what it stands for (label_categories). The path and
        JSON keep the name."""
        if not is_domain_name(self.name):
            return self.name
        if getattr(self, "_label", None) is None:
            label_categories([self])  # lists label their categories in bulk beforehand
        return self._label

    @property
    def trail(self) -> list[Category]:
        """Ancestors and self, as breadcrumbs show them (label_trails)."""
        if getattr(self, "_trail", None) is None:
            label_trails([self])
        return self._trail

    @property
    def full_label(self) -> str:
        """ "南洋大学 > 研究生院": full_name as readers name the categories."""
        return " > ".join(category.label for category in self.trail)

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saved with its subtree's paths, the counts of the notices below it if it moved
        under another parent, and a data-version bump (notices/counts.py, issue 14)."""
        from notices import counts  # counts imports this module

        with transaction.atomic(savepoint=False), counts.changing(counts.notice_ids_moved(self)):
            old_path = self.path
            self.fill_path()
            super().save(*args, **kwargs)
            if old_path and old_path != self.path:
                # A renamed or moved category moves its whole subtree.
                for child in self.children.all():
                    child.save()

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Deleted with those below it, keeping its notices' counts (issue 14)."""
        from notices import counts  # counts imports this module

        with (
            transaction.atomic(savepoint=False),
            counts.changing(counts.notice_ids_below([self.pk])),
        ):
            return super().delete(*args, **kwargs)


def label_categories(categories: Iterable[Category]) -> None:
    """Give the domain-named categories among `categories` their label: the name of their
    only sub-category, else the site most of their notices (and those below) come from,
    else the name. At most two queries, only when such categories are given."""
    domains = [
        c for c in categories if is_domain_name(c.name) and getattr(c, "_label", None) is None
    ]
    if not domains:
        return
    # with_children() rows carry their children's count and first name: no query for them.
    counted = [c for c in domains if hasattr(c, "child_count")]
    only_child = {c.id: c.first_child_name for c in counted if c.child_count == 1}
    uncounted = [c for c in domains if not hasattr(c, "child_count")]
    if uncounted:
        only_child |= {
            parent_id: name
            for parent_id, count, name in Category.objects.filter(parent__in=uncounted)
            .order_by()
            .values_list("parent_id")
            .annotate(count=Count("id"), name=Min("name"))
            if count == 1
        }
    rest = [c for c in domains if c.id not in only_child]
    sites: dict[str, dict[str, int]] = {}
    if rest:
        # The published notices per site below each category, from the stored counts
        # (notices/counts.py): grouping the links under a big domain grew with its notices.
        from notices.counts import category_scope  # counts imports this module

        scopes = {category_scope(category.id): category.path for category in rest}
        rows = FacetCount.objects.filter(scope__in=list(scopes), facet="s", count__gt=0)
        for scope, site, count in rows.values_list("scope", "value", "count"):
            sites.setdefault(scopes[scope], {})[site] = count
    for category in domains:
        counts = sites.get(category.path)
        if category.id in only_child:
            category._label = only_child[category.id]
        elif counts:
            category._label = min(counts, key=lambda site: (-counts[site], site))
        else:
            category._label = category.name


def prefetch_categories(notices: Iterable[Notice]) -> None:
    """What for_list()'s categories prefetch gives `notices` (each one's categories, labelled,
    in path order), from one query of their links joined to the categories: Django's
    prefetch made a manager and a queryset per notice, half of loading a search page's 20
    rows (issue 13)."""
    by_id = {notice.id: notice for notice in notices}
    if not by_id:
        return
    through = Notice.categories.through._meta.db_table
    fields = ("id", "name", "slug", "parent_id", "path", "full_name")
    columns = ", ".join(f"category.{connection.ops.quote_name(name)}" for name in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT link.notice_id, {columns} FROM {through} AS link "
            f"JOIN {Category._meta.db_table} AS category ON category.id = link.category_id "
            f"WHERE link.notice_id IN ({', '.join(['%s'] * len(by_id))}) ORDER BY category.path",
            list(by_id),
        )
        rows = cursor.fetchall()
    every: dict[int, list[Category]] = {notice_id: [] for notice_id in by_id}
    made: dict[int, Category] = {}
    for notice_id, *values in rows:
        category = made.get(values[0]) or Category.from_db(connection.alias, fields, values)
        made[category.id] = category
        every[notice_id].append(category)
    label_categories(made.values())
    for notice_id, categories in every.items():
        listed = Category.objects.all()
        listed._result_cache, listed._prefetch_done = categories, True
        cache = by_id[notice_id].__dict__.setdefault("_prefetched_objects_cache", {})
        cache["categories"] = listed


def label_trails(categories: list[Category]) -> None:
    """Give each category its `trail`: its ancestors and itself as readers name them, from
    the root, leaving out an ancestor labelled like the next one (a domain standing for its
    only sub-category: 南洋大学 > 南洋大学). At most two queries for all of them."""
    wanted = {path for category in categories for path in category.ancestor_paths()}
    ancestors = Category.objects.filter(path__in=wanted).with_children() if wanted else []
    by_path = {c.path: c for c in ancestors}
    label_categories([*by_path.values(), *categories])
    for category in categories:
        chain = [by_path[p] for p in category.ancestor_paths() if p in by_path] + [category]
        category._trail = [
            node for node, after in zip(chain, [*chain[1:], None], strict=True)
            if after is None or node.label != after.label
        ]  # fmt: skip


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
    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete these notices through counts.delete_notices(): counts, versions, search
        index and links in a few statements, one data-version bump (issue 14)."""
        from notices import counts  # counts imports this module

        deleted = counts.delete_notices(self.values_list("id", flat=True).order_by())
        return deleted, {Notice._meta.label: deleted}

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def published(self) -> NoticeQuerySet:
        # A notice without a urlname has no page (a row from before the admin generated one):
        # every list, feed, sitemap and search skips it instead of failing to link it.
        return self.exclude(urlname="")

    def one_per_group(self) -> NoticeQuerySet:
        """These notices with one entry per group of near-duplicates (notices/grouping.py):
        of each group, its earliest (date, id) notice among these notices themselves. So a
        tag's list shows the earliest copy that carries the tag, and a site's page each of
        its own copies whoever published the notice first. A notice in no group (group null)
        never reaches the subquery; a group's few members are found by the group index."""
        earlier = (
            self.order_by()
            .filter(group=models.OuterRef("group"))
            .filter(
                models.Q(date__lt=models.OuterRef("date"))
                | models.Q(date=models.OuterRef("date"), id__lt=models.OuterRef("id"))
            )
        )
        return self.filter(models.Q(group__isnull=True) | ~models.Exists(earlier))

    def hidden_copies(self) -> int:
        """How many of these notices one_per_group() leaves out: of each group present, all
        but one. One pass over the grouped notices alone, however many these are."""
        grouped = self.order_by().filter(group__isnull=False)
        row = grouped.aggregate(
            members=models.Count("id"), groups=models.Count("group", distinct=True)
        )
        return row["members"] - row["groups"]

    def for_list(self, *, tags: bool = True, categories: bool = True) -> NoticeQuerySet:
        """What list pages show: no bodies, categories and tags in two extra queries (tags
        left out for a page that shows none: a search's results; categories for a caller
        that gives them with prefetch_categories())."""
        lookups: list[Any] = []
        if categories:
            lookups.append(models.Prefetch("categories", queryset=Category.objects.labelled()))
        if tags:
            lookups.append("tags")
        deferred = self.defer("body", "body_html", "extra", "attachments", "signature")
        return deferred.prefetch_related(*lookups)


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
    # Indexed with the date below: a site's newest notices are an index range (issue 13).
    site = models.CharField(_("site"), max_length=200, blank=True)
    domain = models.CharField(_("domain"), max_length=200, blank=True)
    date = models.DateTimeField(_("date"))
    body = models.TextField(_("body (Markdown)"))
    body_html = models.TextField(_("body (HTML)"), blank=True, editable=False)
    summary = models.CharField(_("summary"), max_length=200, blank=True, editable=False)
    source_url = models.URLField(_("source URL"), max_length=2000, blank=True)
    extra = models.JSONField(_("other front matter"), default=dict, blank=True)
    # Indexed with what an import decides by (notice_import_state below).
    source_path = models.CharField(_("source file"), max_length=1000, blank=True)
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
    # The documents the body links to, [{url, name, kind, host}], from the rendered body
    # (notices/attachments.py, issue 15): derived like body_html, never exported. The flag
    # is what the 有附件 filter and the stored counts read.
    attachments = models.JSONField(_("attachments"), default=list, blank=True, editable=False)
    has_attachments = models.BooleanField(_("has attachments"), default=False, editable=False)
    # The deadline the body sets and the words it came from (notices/deadlines.py, issue 15),
    # derived like body_html; the (deadline, id) index below serves /deadlines/.
    deadline = models.DateField(_("deadline"), null=True, blank=True, editable=False)
    deadline_phrase = models.CharField(
        _("deadline phrase"), max_length=200, blank=True, editable=False
    )

    # The same notice from other sources (notices/grouping.py, issue 15): the signature of
    # the normalised body, derived like body_html; the id of the group's lead (its earliest
    # notice; null: no other copy) and how many notices the group has.
    signature = models.BinaryField(_("body signature"), null=True, editable=False)
    # Indexed with the order a group's members are compared in (notice_group_order below).
    group = models.IntegerField(_("group"), null=True, blank=True, editable=False)
    group_size = models.PositiveIntegerField(_("group size"), default=1, editable=False)

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
        excluded_fields=[
            "body_html",
            "summary",
            "held_back_hash",
            "attachments",
            "has_attachments",
            "deadline",
            "deadline_phrase",
            "signature",
            "group",
            "group_size",
        ],
        history_change_reason_field=models.TextField(null=True),
        # Versions are looked up by notice and date; these indexes would only slow imports.
        no_db_index=["urlname", "site", "source_path", "slug"],
    )

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ("-date", "-id")
        indexes = [
            models.Index(fields=["-date", "-id"], name="notice_date_id"),
            models.Index(fields=["site", "-date", "-id"], name="notice_site_date_id"),
            # The 有附件 list newest first, and its counts, as an index range (issue 15).
            models.Index(
                fields=["has_attachments", "-date", "-id"], name="notice_attachments_date_id"
            ),
            models.Index(fields=["deadline", "id"], name="notice_deadline_id"),
            # What a search's facets group its matches by, looked up by id without reading
            # the rows: on SQLite has_attachments sits after the body's overflow pages, and
            # reading it took half of a facet query's time (issue 13).
            models.Index(
                fields=["id", "site", "date", "has_attachments"], name="notice_facet_columns"
            ),
            # Everything an import looks a file's notice up for, by path (it leads) or read
            # whole by --prune, without reading the rows: on SQLite these columns sit after
            # the body's overflow pages (issue 13). On PostgreSQL an index-only scan.
            models.Index(
                fields=[
                    "source_path",
                    "archive_root",
                    "content_hash",
                    "urlname",
                    "edited_at",
                    "imported_at",
                    "id",
                ],
                name="notice_import_state",
            ),  # fmt: skip
            # A group's members earliest first, and the grouped notices among a search's
            # matches, read from the index alone: on SQLite `group` sits after the body's
            # overflow pages (one_per_group, search.SearchResults._folded_copies; issue 15).
            models.Index(fields=["group", "date", "id"], name="notice_group_order"),
            # Notices imported before the front matter was kept (issue 9): usually none.
            models.Index(
                fields=["id"],
                condition=models.Q(front_matter="") & ~models.Q(source_path=""),
                name="notice_without_front_matter",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        # Reversed once per URL configuration (notices/links.py): lists and search pages
        # link dozens of notices and categories, at ~50 us a reverse().
        return url_maker("notices:detail")(self.urlname)

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saved with its counts and a data-version bump in one transaction (notices/counts.py):
        every ORM save of a notice, the admin's, a restore's or a script's, keeps them right
        (issue 14: explicit, where post_save/pre_save receivers did it)."""
        from notices import counts  # counts imports this module

        fields = kwargs.get("update_fields")
        counted = fields is None or bool(counts.COUNTED_FIELDS & set(fields))
        if self.pk and (fields is None or {"group", "group_size"} & set(fields)):
            # Grouping owns these (a copy saved elsewhere may have moved the lead): write
            # them as stored, not as read.
            stored = Notice.objects.filter(pk=self.pk).values_list("group", "group_size")
            self.group, self.group_size = next(iter(stored), (None, 1))
        with counts.changing([self.pk] if counted and self.pk else []) as ids:
            super().save(*args, **kwargs)
            if counted:
                ids.add(self.pk)
            grouped_as = (self.signature, self.date)
            if grouped_as != self._grouped_as and (self.signature or self._grouped_as[0]):
                grouping.Groups().regroup([self.pk])  # a new body or date: its group again
            self._grouped_as = grouped_as

    # What the notice was grouped by when read (from_db): a save regroups only on a change
    # (a notice saved without render() keeps its signature, as it keeps its HTML).
    _grouped_as: tuple[Any, Any] = (None, None)

    @classmethod
    def from_db(cls, db: str, field_names: Any, values: Any) -> Notice:
        notice = super().from_db(db, field_names, values)
        loaded = notice.__dict__
        if "signature" in loaded and "date" in loaded:
            signature = loaded["signature"]
            notice._grouped_as = (bytes(signature) if signature is not None else None, notice.date)
        return notice

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Deleted through counts.delete_notices(), as a bulk delete is."""
        from notices import counts  # counts imports this module

        deleted = counts.delete_notices([self.pk])
        self.pk = None
        return deleted, {Notice._meta.label: deleted}

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
        self.attachments = attachment_links.derive(rendered.html, self.source_url)
        self.has_attachments = bool(self.attachments)
        self.deadline, self.deadline_phrase = notice_deadline(self.body_html, self.date)
        self.signature = grouping.signature(self.body)
        # Which rendering limit the body passed, for the importer's warning (issue 11).
        self.render_limit = render_limit(rendered.html)

    @property
    def attachment_list(self) -> list[attachment_links.Attachment]:
        return attachment_links.from_json(self.attachments)

    @property
    def deadline_label(self) -> str:
        """报名截止, 提交截止 or 截止, from the phrase the deadline came from."""
        return deadline_label(self.deadline_phrase) if self.deadline else ""

    @property
    def was_edited_since_import(self) -> bool:
        return bool(self.edited_at and (not self.imported_at or self.edited_at > self.imported_at))

    def mark_edited(self) -> None:
        self.edited_at = timezone.now()


class NoticeBand(models.Model):
    """One LSH band key of a notice's signature (notices/grouping.py): the index candidates
    for its group are looked up by."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="bands")
    key = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("signature band")
        verbose_name_plural = _("signature bands")


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


class FacetCount(models.Model):
    """How many published notices of one list (scope) have one facet value: the counts list
    pages and facets read instead of grouping every row (notices/counts.py keeps them)."""

    scope = models.CharField(max_length=210)
    facet = models.CharField(max_length=1)
    value = models.CharField(max_length=210)
    count = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("facet count")
        verbose_name_plural = _("facet counts")
        constraints = [
            models.UniqueConstraint(fields=["scope", "facet", "value"], name="facetcount_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.facet}={self.value}: {self.count}"


# The Wayback Machine's list of every copy it holds of a URL (appended to this).
WAYBACK_LIST = "https://web.archive.org/web/*/"


class SourceCheck(models.Model):
    """What the link checker (notices/linkcheck.py, `manage.py check_sources`) last found at
    one URL a notice links to (issue 15): one row per URL, however many notices share it.

    `outcome` is the last check's; `failures` counts the checks in a row with that same
    outcome when it is not `ok` (0 when ok), and `first_failed_at` is when the run of checks
    that were not `ok` (of any kind) began. Only `gone` and `moved_home`
    after one check, and `domain_gone` after DOMAIN_GONE_CHECKS in a row, make the original
    dead (`dead_q()`): an `error` (timeout, reset, 5xx, 403, 429) never does, however often.
    """

    class Outcome(models.TextChoices):
        OK = "ok", _("ok")
        GONE = "gone", _("gone (404, 410)")
        MOVED_HOME = "moved_home", _("redirected to the home page")
        DOMAIN_GONE = "domain_gone", _("domain gone")
        ERROR = "error", _("error (try again later)")
        DISALLOWED = "disallowed", _("not checked (robots.txt)")

    # A name server that fails once is not a domain that is gone.
    DOMAIN_GONE_CHECKS = 2

    # The URL as notices hold it, and its sha256 as the unique key: URLs of 2,000 characters
    # (Chinese ones are longer in bytes) are past what a btree index entry takes.
    url = models.TextField(_("URL"))
    url_hash = models.CharField(max_length=64, unique=True, editable=False)
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome.choices)
    status = models.IntegerField(_("HTTP status"), null=True, blank=True)
    final_url = models.TextField(_("final URL"), blank=True)
    # Each hop of the redirects followed: [{"url": ..., "status": 301}, ...], final URL last.
    redirects = models.JSONField(_("redirects"), default=list, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    checked_at = models.DateTimeField(_("checked at"), db_index=True)
    first_failed_at = models.DateTimeField(_("failing since"), null=True, blank=True)
    failures = models.IntegerField(_("failures in a row"), default=0)

    class Meta:
        verbose_name = _("source check")
        verbose_name_plural = _("source checks")
        ordering = ("-checked_at",)
        indexes = [models.Index(fields=["outcome", "failures"], name="sourcecheck_outcome")]

    def __str__(self) -> str:
        return f"{self.url}: {self.outcome}"

    @staticmethod
    def hash_url(url: str) -> str:
        return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    def dead_q(cls) -> models.Q:
        """The rows whose original is gone, as pages say "原文已失效"."""
        return models.Q(outcome__in=[cls.Outcome.GONE, cls.Outcome.MOVED_HOME]) | models.Q(
            outcome=cls.Outcome.DOMAIN_GONE, failures__gte=cls.DOMAIN_GONE_CHECKS
        )

    @property
    def is_dead(self) -> bool:
        if self.outcome in (self.Outcome.GONE, self.Outcome.MOVED_HOME):
            return True
        return self.outcome == self.Outcome.DOMAIN_GONE and self.failures >= self.DOMAIN_GONE_CHECKS

    @property
    def archive_url(self) -> str:
        """Where the Internet Archive's Wayback Machine lists its copies of the URL: the URL
        percent-quoted (spaces, `#`, `"`, non-ASCII), its own escapes and delimiters kept."""
        return WAYBACK_LIST + quote(self.url, safe=":/?&=%~+@!$,;'()*")

    @classmethod
    def for_url(cls, url: str) -> SourceCheck | None:
        if not url:
            return None
        return cls.objects.filter(url_hash=cls.hash_url(url)).first()
