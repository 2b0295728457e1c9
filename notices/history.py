"""Every version of a notice, kept by django-simple-history (issue 10).

A version is written by each import, in bulk with its batch (`import_versions`, the import's
bulk writes send no signals), and by each admin save, with its user, once the tags and
categories are saved too (`NoticeHistoryAdmin`). A version keeps the notice's fields
(not the derived HTML and summary, rendered again on restore) and its tags and categories
as names. Restoring a version is an edit: the notice takes the version's title, body, date,
tags and categories, keeps what ties it to its file (source path, hash, front matter as
written) and is marked edited, so the next import holds it back instead of replacing it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db import connection, models
from django.dispatch import receiver
from django.forms import ModelForm
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record
from taggit.models import Tag

from notices.exporting import iter_exported
from notices.models import Category, DateSource, Notice
from notices.rows import copy_rows, preparer
from notices.sync import file_diff_html, sync_state_column

HistoricalNotice = Notice.history.model

# Form fields a restore takes from the version; everything else stays as the notice has it.
RESTORED_RELATIONS = ("tags", "categories")


def version_row(
    notice: Notice,
    *,
    history_type: str,
    when: dt.datetime,
    reason: str,
    tag_names: list[str],
    category_paths: list[list[str]],
    user: Any = None,
) -> models.Model:
    """An unsaved version of `notice` as it is now (its fields, tags and categories)."""
    fields = {
        field.attname: getattr(notice, field.attname) for field in HistoricalNotice.tracked_fields
    }
    return HistoricalNotice(
        history_date=when,
        history_type=history_type,
        history_user=user,
        history_change_reason=reason,
        tag_names=list(tag_names),
        category_paths=[list(path) for path in category_paths],
        **fields,
    )


def import_versions(
    written: Iterable[tuple[Notice, bool, list[str], list[list[str]]]], when: dt.datetime
) -> None:
    """One version per notice an import batch wrote: (notice, created, tags, category paths).

    Plain INSERTs in the batch's transaction: a rolled-back batch leaves no versions, and a
    written one always has them. A model instance per version and Django's per-field SQL
    compilation were most of the cost of keeping versions (a seventh of an import's time)."""
    _insert_versions(
        (
            notice,
            {
                "history_date": when,
                "history_type": "+" if created else "~",
                "history_user_id": None,
                "history_change_reason": "import " + notice.source_path,
                "tag_names": tags,
                "category_paths": paths,
            },
        )
        for notice, created, tags, paths in written
    )


def record_deletions(ids: list[int]) -> None:
    """The "-" version of each of these notices, about to be deleted (counts.delete_notices),
    as simple-history's delete receiver writes one, a query per row: one INSERT for all,
    with the signed-in user of the request (its middleware) if any (issue 14)."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    when = timezone.now()
    fields = [field.attname for field in HistoricalNotice.tracked_fields]
    notices = Notice.objects.filter(id__in=ids).only(*fields).order_by()
    _insert_versions(
        (
            notice,
            {
                "history_date": when,
                "history_type": "-",
                "history_user_id": user_id,
                "history_change_reason": None,
                "tag_names": [],  # as the receiver leaves them: the links are going
                "category_paths": [],
            },
        )
        for notice in notices
    )


def _insert_versions(versions: Iterable[tuple[Notice, dict[str, Any]]]) -> None:
    """INSERT a version row per (notice, values that are not the notice's own fields)."""
    columns = _version_columns()
    rows = [
        tuple(
            prepare(values[attname] if attname in values else getattr(notice, attname))
            for attname, prepare in columns
        )
        for notice, values in versions
    ]
    if not rows:
        return
    if connection.vendor == "postgresql":
        column_names = [HistoricalNotice._meta.get_field(a).column for a, _ in columns]
        copy_rows(HistoricalNotice._meta.db_table, column_names, rows)
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(HistoricalNotice._meta.get_field(a).column) for a, _ in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {quote(HistoricalNotice._meta.db_table)} ({names}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _version_columns() -> list[tuple[str, Callable[[Any], Any]]]:
    """(attname, value -> database value) for each column of a version but its id: only
    dates and JSON need the database's conversion (notices/rows.py), the rest go in as they
    are."""
    return [
        (field.attname, preparer(field))
        for field in HistoricalNotice._meta.concrete_fields
        if not field.primary_key
    ]


def record_version(notice: Notice, *, history_type: str, reason: str, user: Any = None) -> None:
    """A version of a saved notice with its tags and categories as stored now."""
    exported = next(iter_exported([notice]))
    version_row(
        notice,
        history_type=history_type,
        when=timezone.now(),
        reason=reason,
        tag_names=exported.tags,
        category_paths=exported.category_paths,
        user=user,
    ).save()


@receiver(pre_create_historical_record, sender=HistoricalNotice)
def _with_relations(sender, instance: Notice, history_instance, **kwargs) -> None:
    """A version written by a plain save() (a script, the shell) names the tags and
    categories stored at that moment."""
    if history_instance.history_type == "-":
        return  # deleted: its tag and category rows are already gone
    if instance.pk and not history_instance.tag_names and not history_instance.category_paths:
        exported = next(iter_exported([instance]))
        history_instance.tag_names = exported.tags
        history_instance.category_paths = exported.category_paths


def category_ids(paths: Iterable[list[str]]) -> list[int]:
    """The categories at these paths of names, made again where a later import removed them."""
    ids = []
    for names in paths:
        parent: Category | None = None
        for name in names:
            parent, _created = Category.objects.get_or_create(name=name, parent=parent)
        if parent is not None:
            ids.append(parent.id)
    return list(dict.fromkeys(ids))


def restore_initial(version: models.Model, form_fields: Iterable[str]) -> dict[str, Any]:
    """What the restore form starts from: the version's value of each field the form edits."""
    names = set(form_fields)
    initial: dict[str, Any] = {}
    for field in Notice._meta.concrete_fields:
        if field.name in names and not field.primary_key:
            initial[field.name] = getattr(version, field.attname)
    if "tags" in names:
        initial["tags"] = [Tag(name=name) for name in version.tag_names]
    if "categories" in names:
        initial["categories"] = category_ids(version.category_paths)
    return initial


class NoticeHistoryAdmin(SimpleHistoryAdmin):
    """NoticeAdmin's base: versions with their user, restore, the sync state and the diff."""

    # With the notice admin's styles, and each change shown as a short excerpt (bodies are large).
    object_history_template = "admin/notices/notice/object_history.html"
    object_history_list_template = "admin/notices/notice/object_history_list.html"

    # --- versions ---------------------------------------------------------------------------

    def history_form_view(self, request: HttpRequest, object_id, version_id, extra_context=None):
        # simple-history's revert page; the form it builds is the restore form below.
        request.restoring_version = get_object_or_404(
            HistoricalNotice, id=unquote(object_id), history_id=version_id
        )
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        version = getattr(request, "restoring_version", None)
        if version is None:
            return form_class

        class RestoreForm(form_class):
            """The notice as it is, with the version's values as the form's starting point:
            what is saved is what the editor sees, and fields the form does not show (the
            file's front matter, hash, source path) stay the notice's."""

            def __init__(self, *args, instance=None, **form_kwargs) -> None:
                # A deleted (pruned) notice is made again from its version.
                live = Notice.objects.filter(pk=version.id).first() or instance
                super().__init__(*args, instance=live, **form_kwargs)
                self.initial.update(restore_initial(version, self.fields))

        return RestoreForm

    def save_model(self, request: HttpRequest, obj: Notice, form: ModelForm, change: bool) -> None:
        version = getattr(request, "restoring_version", None)
        if version is not None:
            stored_date = Notice.objects.filter(pk=obj.pk).values_list("date", flat=True).first()
            if obj.date != stored_date:
                obj.date_source = DateSource.FRONT_MATTER
            obj.mark_edited()  # a restore is an edit: the next import holds it back
        if change and not HistoricalNotice.objects.filter(id=obj.pk).exists():
            # A notice from before versions were kept: its stored state becomes the first
            # version, so the edit does not leave it only in the file.
            stored = Notice.objects.get(pk=obj.pk)
            record_version(stored, history_type="+", reason="before the first recorded edit")
        # The version is written once the tags and categories are saved (form.save_m2m()),
        # so it names the ones just chosen, not the ones before.
        obj.skip_history_when_saving = True
        try:
            super().save_model(request, obj, form, change)
        finally:
            del obj.skip_history_when_saving
        if version is not None:
            when = timezone.localtime(version.history_date).strftime("%Y-%m-%d %H:%M:%S")
            reason = f"restore version {version.history_id} ({when})"
        else:
            reason = "admin"
        save_m2m = form.save_m2m

        def save_m2m_and_record_version() -> None:
            save_m2m()
            record_version(
                obj, history_type="~" if change else "+", reason=reason, user=request.user
            )

        form.save_m2m = save_m2m_and_record_version

    # --- sync state and diff (notices/sync.py) -----------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return (*super().get_readonly_fields(request, obj), "file_diff")

    @admin.display(description=_("state"))
    def sync_state(self, notice: Notice) -> str:
        return sync_state_column(notice)

    @admin.display(description=_("difference from its file"))
    def file_diff(self, notice: Notice | None) -> str:
        return file_diff_html(notice)
