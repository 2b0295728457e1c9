"""Stored counts for list pages and facets, kept current by every write (issue 13).

Recounting on the first view after a write grouped every row (150-290 ms at 100,000 notices).
Instead each published notice adds 1 to a row per (scope, facet, value) it falls in, and a
write applies the difference its notices make, in its own transaction:

- scope: the list the count belongs to: "" (every notice), "c<id>" (a category and everything
  below it), "t<id>" (a tag), "s<site>", "y<year>", "m<year>-<month>" (site time zone), "a"
  (the notices with attachments: the 有附件 list, issue 15);
- facet and value: "n" "" (how many notices), "c" <category id> (links to that category, as
  the category facet counts them), "t" <tag id>, "s" <site>, "m" <year>-<month>, "a" "" (how
  many have attachments: the 有附件 facet), and within a site's scope "d" <domain> (the site
  index shows the greatest).

So a list with at most one filter (the home page, a category, tag, site, year or month page,
the indexes, and the facet pages of those lists) reads its count and facets from a few rows;
lists with more filters, date ranges and searches are still counted by grouped queries
(notices/filters.py), over the fewer rows they select.

Write paths, each applying its difference explicitly (issue 14: no receiver per row):
- the importer calls subtract(ids) before it changes notices and add_written(...) after it
  wrote them, and delete_notices(ids) for a prune;
- delete_notices(ids) is the one way notices are deleted in bulk: counts, versions, search
  index, links and rows in a fixed number of statements per 500 notices, one data-version
  bump. `notice.delete()` and `Notice.objects.filter(...).delete()` (the admin's delete and
  delete-selected) come here;
- `Notice.save()` and `Category.save()`/`delete()` (and a category queryset's delete) count
  the notices they touch before and after, inside changing(): an override of the model's own
  method, so the admin, history restores and scripts cannot forget it;
- what has no method of ours to extend keeps a receiver (connect()): the related managers of
  the link tables (`notice.tags.add()`, `category.notices.set()`: one m2m_changed per call,
  not per row) and taggit's Tag model (a deleted tag takes its links with it).
Not covered: QuerySet.update() of site/date/urlname, link rows saved on their own (not
through notice.tags / notice.categories), raw SQL and loaddata (raw saves); `manage.py
recount_notices` (rebuild()) recounts everything, as the migration that made the table did.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from notices import grouping, search
from notices.caching import bump_data_version
from notices.models import Category, FacetCount, Notice, OldAddress, TaggedNotice
from notices.rows import insert_arrays

Key = tuple[str, str, str]  # (scope, facet, value)
# While counting, a key is one string, scope + _SEPARATOR + facet + value: joined by map() over
# a notice's scopes rather than a tuple built in Python per (scope, facet) pair, a third of
# the cost at 50 pairs a notice.
_SEPARATOR = "\x1f"
ALL = ""
_CHUNK = 500
# A save that changes none of these changes no count.
COUNTED_FIELDS = frozenset({"site", "domain", "date", "urlname", "has_attachments"})
# The scope of the 有附件 list, and the facet counting the notices with attachments in a scope.
ATTACHMENTS = "a"


def category_scope(category_id: int) -> str:
    return f"c{category_id}"


TAG_SCOPE_PREFIX = "t"


def tag_scope(tag_id: int) -> str:
    return f"{TAG_SCOPE_PREFIX}{tag_id}"


def site_scope(site: str) -> str:
    return f"s{site}"


def period_scope(year: int, month: int | None = None) -> str:
    return f"y{year}" if month is None else f"m{month_value(year, month)}"


def month_value(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


# --- Reading -------------------------------------------------------------------------------


def total(scope: str) -> int:
    """How many published notices the scope's list holds."""
    row = FacetCount.objects.filter(scope=scope, facet="n", value="").values_list("count")
    found = row.first()
    return found[0] if found else 0


def with_attachments(scope: str) -> int:
    """How many published notices of the scope's list have attachments."""
    row = FacetCount.objects.filter(scope=scope, facet=ATTACHMENTS, value="").values_list("count")
    found = row.first()
    return found[0] if found else 0


def values(scope: str, facet: str) -> list[tuple[str, int]]:
    """(value, count) of one facet within a scope, values in order, zero counts left out."""
    rows = FacetCount.objects.filter(scope=scope, facet=facet, count__gt=0).order_by("value")
    return list(rows.values_list("value", "count"))


def month_counts(scope: str) -> list[tuple[tuple[int, int], int]]:
    """((year, month), count) within a scope, oldest first: period_counts() from the table."""
    return months_of(values(scope, "m"))


def months_of(rows: Iterable[tuple[str, int]]) -> list[tuple[tuple[int, int], int]]:
    """The "m" facet's (value, count) rows as ((year, month), count), oldest first."""
    return sorted(((int(value[:4]), int(value[5:])), count) for value, count in rows)


def scope_values(scope: str) -> dict[str, list[tuple[str, int]]]:
    """values() of every facet of a scope, by facet, in one query: a list's facets read
    them all, and a query per facet was most of their time after a write (issue 13)."""
    rows = FacetCount.objects.filter(scope=scope, count__gt=0).order_by("facet", "value")
    by_facet: dict[str, list[tuple[str, int]]] = {}
    for facet, value, count in rows.values_list("facet", "value", "count"):
        by_facet.setdefault(facet, []).append((value, count))
    return by_facet


def site_names() -> QuerySet:
    """The names of the sites that have notices, as a subquery."""
    return FacetCount.objects.filter(scope=ALL, facet="s", count__gt=0).values("value")


def site_summaries() -> list[tuple[str, int, Any, str]]:
    """(site, count, latest date, domain) of every site, as the site index shows them: the
    count from the table, the greatest domain from each site's "d" rows, and the latest date
    read within each site's latest month (a range of the (date, id) index)."""
    sites = dict(values(ALL, "s"))
    if not sites:
        return []
    by_site = FacetCount.objects.filter(
        scope__in=[site_scope(site) for site in sites], facet__in=["d", "m"], count__gt=0
    ).values_list("scope", "facet", "value")
    domains: dict[str, str] = {}
    latest_month: dict[str, str] = {}
    for scope, facet, value in by_site:
        site = scope[1:]
        kept = domains if facet == "d" else latest_month
        kept[site] = max(kept.get(site, value), value)
    from notices.filters import period_bounds  # filters imports this module

    in_latest_month = Q()
    for site, month in latest_month.items():
        start, end = period_bounds(int(month[:4]), int(month[5:]))
        in_month = Q(site=site, date__gte=start) & (Q(date__lt=end) if end else Q())
        in_latest_month |= in_month
    latest: dict[str, Any] = {}
    if latest_month:
        rows = Notice.objects.published().filter(in_latest_month).values_list("site", "date")
        for site, date in rows:
            if site not in latest or date > latest[site]:
                latest[site] = date
    return [
        (site, count, latest.get(site), domains.get(site, ""))
        for site, count in sites.items()
        if site in latest
    ]


# --- Counting what notices contribute ---------------------------------------------------------


def contributions(ids: Iterable[int]) -> Counter[str]:
    """What the published notices among `ids` add to the counts, as they are stored now
    (keys joined, see _SEPARATOR)."""
    ids = list(ids)
    counted: Counter[str] = Counter()
    if not ids:
        return counted
    ancestry = _ancestry()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        notices = Notice.objects.published().filter(id__in=chunk).order_by()
        rows = notices.values_list("id", "site", "domain", "date", "has_attachments")
        categories: dict[int, list[int]] = {}
        links = Notice.categories.through.objects.filter(notice_id__in=chunk)
        for notice_id, category_id in links.values_list("notice_id", "category_id"):
            categories.setdefault(notice_id, []).append(category_id)
        tags: dict[int, list[int]] = {}
        tagged = TaggedNotice.objects.filter(content_object_id__in=chunk)
        for notice_id, tag_id in tagged.values_list("content_object_id", "tag_id"):
            tags.setdefault(notice_id, []).append(tag_id)
        _count(counted, rows, categories, tags, ancestry)
    return counted


def _count(
    counted: Counter[str],
    rows: Iterable[tuple[int, str, str, Any, bool]],
    categories: dict[int, list[int]],
    tags: dict[int, list[int]],
    ancestry: dict[int, list[int]],
) -> None:
    """Add what each published notice (id, site, domain, date, has attachments) of `rows`
    counts for, with its category and tag ids by notice id."""
    zone = timezone.get_current_timezone()
    for notice_id, site, domain, date, attached in rows:
        local = date.astimezone(zone)
        month = month_value(local.year, local.month)
        scopes = {ALL, period_scope(local.year), f"m{month}"}
        facets = ["n", f"m{month}"]
        for category_id in categories.get(notice_id, ()):
            facets.append(f"c{category_id}")
            scopes.update(map(category_scope, ancestry.get(category_id, [category_id])))
        for tag_id in tags.get(notice_id, ()):
            facets.append(f"t{tag_id}")
            scopes.add(tag_scope(tag_id))
        if site:
            facets.append(f"s{site}")
            scopes.add(site_scope(site))
            if domain:
                counted[f"{site_scope(site)}{_SEPARATOR}d{domain}"] += 1
        if attached:
            facets.append(ATTACHMENTS)
            scopes.add(ATTACHMENTS)
        for scope in scopes:
            counted.update(map((scope + _SEPARATOR).__add__, facets))


def is_attachment_key(key: str) -> bool:
    """Whether a key of contributions() is the 有附件 scope's or facet's (migration 0014)."""
    scope, facet, _value = _split(key)
    return ATTACHMENTS in (scope, facet)


def _split(key: str) -> Key:
    scope, _, facet_value = key.partition(_SEPARATOR)
    return scope, facet_value[:1], facet_value[1:]


def _ancestry() -> dict[int, list[int]]:
    """Each category's id with its ancestors' (few categories: one query for all)."""
    parents = dict(Category.objects.values_list("id", "parent_id"))
    chains: dict[int, list[int]] = {}
    for category_id in parents:
        chain, node, seen = [], category_id, set()
        while node is not None and node not in seen:  # a cycle would be a broken tree
            seen.add(node)
            chain.append(node)
            node = parents.get(node)
        chains[category_id] = chain
    return chains


# --- Writing ---------------------------------------------------------------------------------


def apply(delta: Counter[str] | dict[str, int]) -> None:
    """Add `delta` (keys as contributions() gives them) to the stored counts: one upsert
    per batch; zero changes are skipped."""
    # In key order: two writers counting the same rows lock them in the same order, so they
    # wait for each other on PostgreSQL instead of deadlocking.
    rows = [(*_split(key), change) for key, change in sorted(delta.items()) if change]
    if not rows:
        return
    table = connection.ops.quote_name(FacetCount._meta.db_table)
    columns = ("scope", "facet", "value", "count")
    upsert = (
        f"ON CONFLICT (scope, facet, value) DO UPDATE SET count = {table}.count + excluded.count"
    )
    if connection.vendor == "postgresql":
        # One statement of four arrays (keys unique, in key order): an executemany() was a
        # tenth of an import's time there (issue 13).
        kinds = ("varchar", "varchar", "varchar", "int")
        insert_arrays(FacetCount._meta.db_table, columns, kinds, rows, upsert)
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES (%s, %s, %s, %s) {upsert}", rows
        )


def difference(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    """after - before, negative changes kept (Counter's own `-` drops them)."""
    change = {key: count - before.get(key, 0) for key, count in after.items()}
    for key, count in before.items():
        if key not in after:
            change[key] = -count
    return change


def add(ids: Iterable[int]) -> None:
    """Count these notices as they are stored now (call after writing them)."""
    apply(contributions(ids))


def add_written(
    notices: Iterable[Notice],
    category_links: Iterable[tuple[int, int]],
    tag_links: Iterable[tuple[int, int]],
) -> None:
    """add() for notices a bulk write just stored, with the (notice id, category id) and
    (notice id, tag id) rows it inserted: counted from what is in hand instead of reading
    the rows back (the importer's batches)."""
    categories: dict[int, list[int]] = {}
    for notice_id, category_id in category_links:
        categories.setdefault(notice_id, []).append(category_id)
    tags: dict[int, list[int]] = {}
    for notice_id, tag_id in tag_links:
        tags.setdefault(notice_id, []).append(tag_id)
    rows = [(n.id, n.site, n.domain, n.date, n.has_attachments) for n in notices if n.urlname]
    counted: Counter[str] = Counter()
    _count(counted, rows, categories, tags, _ancestry())
    apply(counted)


def subtract(ids: Iterable[int]) -> None:
    """Stop counting these notices (call before changing or deleting them)."""
    apply({key: -count for key, count in contributions(ids).items()})


def delete_notices(ids: Iterable[int]) -> int:
    """Delete these notices, keeping counts, versions, search index and caches right, in one
    transaction; returns how many went. The one path that deletes notices (Notice.delete()
    and NoticeQuerySet.delete() call it): a fixed number of statements per 500 notices,
    where Django's delete sent signals per row (issue 14: deleting 100 notices on SQLite
    ran 414 queries, 100 of them data-version bumps, 200 single FTS deletes and 100 version
    inserts; now 18, for 10 notices as for 100).
    """
    from notices.history import record_deletions  # history > exporting > filters > counts

    ids = list(dict.fromkeys(ids))
    deleted = 0
    if not ids:
        return deleted
    with transaction.atomic():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            subtract(chunk)
            record_deletions(chunk)  # the "-" version a restore starts from
            search.unindex(chunk)
            # The rows that point at a notice (Notice._meta.related_objects and its own
            # category links): a new foreign key left out here fails the commit's check.
            TaggedNotice.objects.filter(content_object_id__in=chunk).delete()
            Notice.categories.through.objects.filter(notice_id__in=chunk).delete()
            OldAddress.objects.filter(notice_id__in=chunk).delete()
            grouping.Groups().remove(chunk)  # the rest of each group regrouped; bands gone
            notices = Notice.objects.filter(id__in=chunk)
            # Not Django's QuerySet.delete(): its collector would fetch the notices and
            # send simple-history's receivers one notice at a time.
            deleted += notices._raw_delete(notices.db)
        bump_data_version()
    return deleted


def rebuild() -> int:
    """Recount every notice from scratch; returns how many rows the counts have."""
    with transaction.atomic():
        FacetCount.objects.all().delete()
        ids = list(Notice.objects.published().order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), 10 * _CHUNK):
            apply(contributions(ids[start : start + 10 * _CHUNK]))
    return FacetCount.objects.count()


def stored() -> dict[Key, int]:
    """The counts as stored, zero rows left out: what a test compares with a recount."""
    rows = FacetCount.objects.filter(count__gt=0).values_list("scope", "facet", "value", "count")
    return {(scope, facet, value): count for scope, facet, value, count in rows}


def recount() -> dict[Key, int]:
    """The counts as rebuild() would make them, without writing."""
    ids = Notice.objects.published().values_list("id", flat=True)
    return {_split(key): count for key, count in contributions(ids).items()}


# --- Writes through the models (the admin, history restores, scripts) ----------------------------


@contextmanager
def changing(ids: Iterable[int] = ()) -> Iterator[set[int]]:
    """A write to these notices (add ids to the set yielded, e.g. a notice saved for the
    first time): their counts before it, the difference after it, and one bump of the data
    version, in one transaction."""
    ids = set(ids)
    with transaction.atomic(savepoint=False):
        before = contributions(ids)
        yield ids
        if ids:
            apply(difference(contributions(ids), before))
        bump_data_version()


def notice_ids_below(category_ids: Iterable[int]) -> list[int]:
    """The notices filed in these categories or anywhere below them (a query per level)."""
    seen = set(category_ids)
    level = list(seen)
    while level:
        children = Category.objects.filter(parent_id__in=level).values_list("id", flat=True)
        level = [child for child in children if child not in seen]
        seen.update(level)
    links = Notice.categories.through.objects.filter(category_id__in=seen)
    return list(links.values_list("notice_id", flat=True).distinct())


def notice_ids_moved(category: Category) -> list[int]:
    """The notices below `category` if it is being saved under another parent: their
    category scopes change."""
    if category.pk is None:
        return []
    old_parent = Category.objects.filter(pk=category.pk).values_list("parent_id").first()
    if old_parent is None or old_parent[0] == category.parent_id:
        return []
    return notice_ids_below([category.pk])


def _before(instance: Any, ids: Iterable[int], origin: Any = None) -> None:
    """Remember what these notices count for now; _after() applies what changed."""
    ids = set(ids)
    if origin is not None:  # one delete cascading over several rows counts each notice once
        done = origin.__dict__.setdefault("_counts_done", set())
        ids -= done
        done |= ids
    instance._counts_before = (ids, contributions(ids))


def _after(instance: Any) -> None:
    ids, before = instance.__dict__.pop("_counts_before", (set(), Counter()))
    if ids:
        apply(difference(contributions(ids), before))
    bump_data_version()


def _notice_ids_of_tag(tag_id: int) -> list[int]:
    return list(
        TaggedNotice.objects.filter(tag_id=tag_id).values_list("content_object_id", flat=True)
    )


def links_changed(
    sender: type, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """notice.tags / notice.categories (or tag/category.notices) add, remove, clear, set:
    counted before and after, one bump per call."""
    stage, _, _ = action.partition("_")
    if stage == "pre":
        if not reverse:
            ids: Iterable[int] = [instance.pk]
        elif pk_set is not None and action != "pre_clear":
            ids = pk_set
        elif isinstance(instance, Category):
            ids = instance.notices.values_list("id", flat=True)
        else:
            ids = _notice_ids_of_tag(instance.pk)
        _before(instance, ids)
    else:
        _after(instance)


def tag_pre_delete(sender: type, instance: Any, origin: Any = None, **kwargs: Any) -> None:
    if isinstance(origin, QuerySet):
        # A queryset's delete (the importer's orphans, the admin's delete-selected): the
        # notices of all its tags at the first one, before any row goes; not a query per tag.
        if "_counts_done" not in origin.__dict__:
            tags = origin.model.objects.filter(pk__in=origin.values("pk"))
            links = TaggedNotice.objects.filter(tag__in=tags).values_list("content_object_id")
            _before(instance, (notice_id for (notice_id,) in links.distinct()), origin)
        return
    _before(instance, _notice_ids_of_tag(instance.pk), origin)


def tag_written(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A saved (renamed) or deleted tag: pages show its name; a delete's counts (_before)."""
    if not raw:
        _after(instance)


def connect() -> None:
    """The receivers that stay (issue 14), for writes that pass no method of ours: a link
    table's related manager (one m2m_changed per call, not per row; taggit saves each link
    row inside one) and taggit's own Tag model (a shell's `tag.delete()` or rename)."""
    from django.db.models import signals
    from taggit.models import Tag

    receivers: list[tuple[Any, Any, type]] = [
        (signals.pre_delete, tag_pre_delete, Tag),
        (signals.post_delete, tag_written, Tag),
        (signals.post_save, tag_written, Tag),
    ]
    for through in (TaggedNotice, Notice.categories.through):
        receivers.append((signals.m2m_changed, links_changed, through))
    for signal, receiver, model in receivers:
        uid = f"counts-{receiver.__name__}-{model.__name__}"
        signal.connect(receiver, sender=model, dispatch_uid=uid)
