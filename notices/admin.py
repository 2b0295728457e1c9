from __future__ import annotations

from typing import Any
from uuid import uuid4

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from taggit.forms import TagWidget
from taggit.models import Tag

from notices.caching import bump_data_version
from notices.documents import MAX_URL_LENGTH, safe_http_url
from notices.exporting import export_zip
from notices.filters import dead_source_urls
from notices.history import NoticeHistoryAdmin
from notices.hygiene import clean_field
from notices.models import Category, DateSource, Notice, SourceCheck
from notices.old_urls import PostLinks
from notices.search import filter_notices, index_notices
from notices.sync import SyncStateFilter
from notices.tagging import edit_string_for_tags, parse_tags, splits_unlike_taggit
from notices.writeback import write_back_action

# The change form's "预览" button: the form is checked and its body rendered, nothing saved.
PREVIEW_BUTTON = "_preview"


class HasSourceLinkFilter(admin.SimpleListFilter):
    title = _("source link")
    parameter_name = "has_source"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(source_url="")
        if self.value() == "no":
            return queryset.filter(source_url="")
        return queryset


class SourceGoneFilter(admin.SimpleListFilter):
    """The notices whose original is gone, as the link checker last found it (issue 15)."""

    title = _("original")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [("gone", _("Original gone"))]

    def queryset(self, request, queryset):
        if self.value() == "gone":
            return queryset.filter(source_url__in=dead_source_urls())
        return queryset


class SiteFilter(admin.SimpleListFilter):
    title = _("site")
    parameter_name = "site"

    def lookups(self, request, model_admin):
        sites = Notice.objects.exclude(site="").values_list("site", flat=True).distinct()
        return [(site, site) for site in sites.order_by("site")[:200]]

    def queryset(self, request, queryset):
        return queryset.filter(site=self.value()) if self.value() else queryset


class SecondsSplitDateTime(widgets.AdminSplitDateTime):
    """The admin's date and time boxes, with seconds: zh-Hans shows `HH:MM`, so saving a
    notice dated 09:30:15 would change its date (and its file's `date:` line)."""

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        self.widgets[1].format = "%H:%M:%S"


def tag_list(names: list[str]) -> str:
    return "、".join(f"“{name}”" for name in names)


def new_urlname() -> str:
    """A urlname for a notice made in the admin: 32 hex digits, like the archive's own."""
    while True:
        urlname = uuid4().hex
        if not Notice.objects.filter(urlname=urlname).exists():
            return urlname


class InvisibleFreeForm(forms.ModelForm):
    """Removes bidi controls and zero-width characters from `hygiene_fields` (notices/hygiene.py),
    as the importer does; `hygiene_notes` says what was removed, for the admin's message."""

    hygiene_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hygiene_notes: list[str] = []

    def _clean_fields(self) -> None:
        super()._clean_fields()
        for name in self.hygiene_fields:
            value = self.cleaned_data.get(name)
            if not isinstance(value, str):
                continue
            cleaned, removed = clean_field(value)
            if removed:
                self.cleaned_data[name] = cleaned.strip()
                note = gettext(
                    "%(field)s: %(count)s invisible characters (bidi controls or zero-width) "
                    "were removed."
                ) % {"field": self.fields[name].label, "count": removed}
                self.hygiene_notes.append(note)
                if not self.cleaned_data[name] and self.fields[name].required:
                    self.add_error(name, self.fields[name].error_messages["required"])


class NoticeForm(InvisibleFreeForm):
    # Set by the form itself when it stops to show how typed tags were split: saving again
    # with the same tags goes through (no JavaScript needed).
    confirmed_tags = forms.CharField(
        label=_("confirmed tags"), required=False, widget=forms.HiddenInput
    )

    class Meta:
        model = Notice
        fields = ("body",)  # the admin's fieldsets choose the rest
        widgets = {
            "date": SecondsSplitDateTime,
            "updated": SecondsSplitDateTime,
            "title": forms.TextInput(attrs={"class": "vTextField notice-title"}),
            "body": forms.Textarea(attrs={"rows": 30, "cols": 80, "class": "notice-body"}),
            "tags": TagWidget(
                attrs={
                    "class": "vTextField notice-tags",
                    "autocomplete": "off",
                    "data-suggestions": reverse_lazy("admin:notices_notice_tag_suggestions"),
                }
            ),
        }

    hygiene_fields = ("title", "site", "domain")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "tags" in self.fields:
            self.fields["tags"].help_text = _(
                "Separate tags with ， 、 ； or commas; put a name containing one in quotes."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tags = cleaned.get("tags")
        typed = self.data.get(self.add_prefix("tags"), "")
        if not tags or "tags" not in self.changed_data or not splits_unlike_taggit(typed):
            return cleaned
        # Split by a Chinese separator: show the tags once before they replace the old ones.
        confirmed_key = self.add_prefix("confirmed_tags")
        if self.data.get(confirmed_key) and parse_tags(self.data[confirmed_key]) == tags:
            return cleaned
        data = self.data.copy()
        data[confirmed_key] = edit_string_for_tags(tags)
        self.data = data
        message = gettext(
            "These %(count)s tags will be saved: %(tags)s. Check them and save again to confirm."
        ) % {"count": len(tags), "tags": tag_list(tags)}
        current = sorted(self.instance.tags.names()) if self.instance.pk else []
        removed = [name for name in current if name not in tags]
        if removed:
            message += " " + gettext("Taken off this notice: %(tags)s.") % {
                "tags": tag_list(removed)
            }
        self.add_error("tags", message)
        return cleaned

    @property
    def previewing(self) -> bool:
        return PREVIEW_BUTTON in self.data

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if not self.previewing:
            return valid
        if "body" in self.cleaned_data:
            # The one sanitising renderer, on this unsaved instance (an invalid form saves
            # nothing): body_preview below shows it under the editor.
            self.instance.body = self.cleaned_data["body"]
            links = PostLinks()
            self.instance.render(resolve_post=links.title, resolve_link=links.link)
        return False

    def clean_source_url(self) -> str:
        # The importer's rule (documents.safe_http_url): http(s) only, no quotes, brackets,
        # blanks or invisible characters; the address is served in JSON and as a link.
        url = self.cleaned_data.get("source_url") or ""
        if url and safe_http_url(url) != url:
            raise ValidationError(
                gettext(
                    "Enter an http:// or https:// address without quotes, angle brackets, "
                    "spaces or invisible characters (at most %(limit)s characters)."
                )
                % {"limit": MAX_URL_LENGTH},
                code="unsafe_url",
            )
        return url

    def clean_body(self) -> str:
        # Browsers send a textarea's lines with CRLF: that is not an edit. A body stored with
        # CRLF (a file with mixed line endings) keeps what the browser sends.
        body = self.cleaned_data["body"]
        if "\r\n" not in (self.instance.body or ""):
            body = body.replace("\r\n", "\n")
        return body


@admin.register(Notice)
class NoticeAdmin(NoticeHistoryAdmin):  # versions, restore, state, diff (notices/history.py)
    form = NoticeForm
    # The title gets the room; the rest are narrow (categories and tags are filters).
    list_display = ("title", "list_date", "site", "sync_state", "source_link")
    actions = ("export_selected", write_back_action)
    list_filter = (
        SyncStateFilter,  # edited here / file changed since / conflict (notices/sync.py)
        HasSourceLinkFilter,
        SourceGoneFilter,
        # Guessed dates (from the file name or mtime) are the ones an editor may want to fix.
        "date_source",
        SiteFilter,
        ("categories", admin.RelatedOnlyFieldListFilter),
        "date",
        "tags",
    )
    date_hierarchy = "date"
    # The box searches through notices/search.py (get_search_results), not these fields.
    search_fields = ("title", "urlname", "site", "domain")
    filter_horizontal = ("categories",)
    import_fields = (
        "urlname",
        "raw_title",
        "date_source",
        "slug",
        "archive_root",
        "source_path",
        "content_hash",
        "imported_at",
        "edited_at",
        "extra",
    )
    # What the body's deadline was read as (notices/deadlines.py): found again on each save.
    readonly_fields = ("body_preview", "deadline", "deadline_phrase", *import_fields)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    "site",
                    "domain",
                    "date",
                    "updated",
                    "source_url",
                    "body",
                    "body_preview",
                    "deadline",
                    "deadline_phrase",
                )
            },
        ),
        (_("Classification"), {"fields": ("tags", "confirmed_tags", "categories")}),
        (_("Difference from its file"), {"fields": ("file_diff",)}),  # notices/sync.py
        (
            _("Import"),
            {
                "classes": ("collapse",),
                "fields": import_fields,
            },
        ),
    )
    list_per_page = 50
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        # The body is kept byte for byte: no stripping of leading blank lines or the last newline.
        models.TextField: {"strip": False},
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notice]:
        return (
            super()
            .get_queryset(request)
            .defer("body", "body_html", "extra")
            .prefetch_related("categories", "tags")
        )

    class Media:
        css = {"all": ("notices/admin/notice_admin.css",)}
        js = ("notices/admin/tag_suggestions.js",)

    @admin.display(description=_("date"), ordering="date")
    def list_date(self, notice: Notice) -> str:
        return timezone.localtime(notice.date).strftime("%Y-%m-%d")

    @admin.display(description=_("source link"), ordering="source_url")
    def source_link(self, notice: Notice) -> str:
        # Only web addresses become links: the archive's text is not trusted.
        if not notice.source_url.startswith(("https://", "http://")):
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            notice.source_url,
            gettext("original"),
        )

    @admin.display(description=_("preview"))
    def body_preview(self, notice: Notice) -> SafeString | str:
        # body_html comes only from notices.rendering (sanitised); after "预览" it is the
        # unsaved form's body, rendered by NoticeForm.is_valid.
        if not notice.body_html:
            return gettext("Shown here after 预览 or saving.")
        return mark_safe(f'<div class="notice-preview">{notice.body_html}</div>')

    def get_urls(self) -> list[URLPattern]:
        suggestions = path(
            "tags.json",
            self.admin_site.admin_view(self.tag_suggestions),
            name="notices_notice_tag_suggestions",
        )
        return [suggestions, *super().get_urls()]

    def tag_suggestions(self, request: HttpRequest) -> JsonResponse:
        """Existing tags for the tag box's autocomplete, most used first (staff only)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        typed = request.GET.get("q", "").strip()[:100]
        tags = Tag.objects.annotate(uses=Count("notices_taggednotice_items"))
        if typed:
            tags = tags.filter(name__icontains=typed)
        names = list(tags.order_by("-uses", "name").values_list("name", flat=True)[:20])
        return JsonResponse({"tags": names})

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        if PREVIEW_BUTTON in request.POST:
            messages.info(request, gettext("Preview only: nothing has been saved yet."))
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.action(description=_("Export selected notices (zip of documents)"))
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Notice]) -> HttpResponse:
        # The same documents as `manage.py export_notices`, at their source paths.
        # A plain queryset: the changelist's deferred fields and prefetches are not needed.
        notices = Notice.objects.filter(pk__in=queryset.values("pk")).order_by("source_path", "id")
        archive = export_zip(notices.iterator(chunk_size=1000))
        response = HttpResponse(archive, content_type="application/zip")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="notices-{stamp}.zip"'
        return response

    def save_model(self, request: HttpRequest, obj: Notice, form, change: bool) -> None:
        # Derived HTML is rebuilt here, not in save(), so the import's bulk writes and the
        # admin follow the same explicit path; edited_at protects the edit from re-imports.
        if not obj.urlname:
            # urlname is read-only in the form: a new notice (or a row saved before this was
            # fixed) gets one, or every list that links to it fails (issue 11).
            obj.urlname = new_urlname()
        for note in getattr(form, "hygiene_notes", []):
            messages.warning(request, note)
        links = PostLinks()
        obj.render(resolve_post=links.title, resolve_link=links.link)
        if "date" in form.changed_data:
            obj.date_source = DateSource.FRONT_MATTER  # an editor's date is no longer a guess
        if change and form.changed_data:
            obj.mark_edited()
        # obj.save() keeps the stored counts and bumps the data version (Notice.save); the
        # tags and categories save_related() writes next count and bump in the same
        # transaction (the admin's): one bump per save (issue 14). Deletes, one or selected,
        # go through counts.delete_notices() (Notice.delete, NoticeQuerySet.delete).
        super().save_model(request, obj, form, change)
        index_notices([obj])

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Notice], search_term: str
    ) -> tuple[QuerySet[Notice], bool]:
        # The site's own search (Chinese words inside sentences), plus an exact urlname.
        if not search_term.strip():
            return queryset, False
        found = filter_notices(queryset, search_term) | queryset.filter(urlname=search_term.strip())
        return found, False


class NameForm(InvisibleFreeForm):
    hygiene_fields = ("name",)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    # Category.save()/delete() and a category queryset's delete() keep the counts of the
    # notices below and bump the data version (issue 14); nothing to add here.
    form = NameForm
    list_display = ("full_name", "path", "notice_count")
    search_fields = ("name", "full_name")
    readonly_fields = ("path", "full_name")
    fields = ("name", "slug", "parent", "path", "full_name")
    ordering = ("path",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(notice_count=Count("notices"))

    @admin.display(description=_("notices"), ordering="notice_count")
    def notice_count(self, category: Category) -> int:
        return category.notice_count


# Tags are edited in the notice form; this list is for renaming and merging by hand. Shown
# inside the notices app by NoticeboardAdminSite.get_app_list.
if admin.site.is_registered(Tag):
    admin.site.unregister(Tag)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    # A rename or delete counts and bumps through counts.connect()'s Tag receivers: taggit's
    # model has no save()/delete() of ours to extend (issue 14).
    form = NameForm
    list_display = ("name", "slug", "notice_count")
    search_fields = ("name",)
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return (
            super().get_queryset(request).annotate(notice_count=Count("notices_taggednotice_items"))
        )

    @admin.display(description=_("notices"), ordering="notice_count")
    def notice_count(self, tag: Tag) -> int:
        return tag.notice_count


class DeadSourceFilter(admin.SimpleListFilter):
    """Gone in the sense pages use (SourceCheck.dead_q): a domain gone twice in a row."""

    title = _("original")
    parameter_name = "dead"

    def lookups(self, request, model_admin):
        return [("yes", _("Original gone")), ("no", _("Not gone"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(SourceCheck.dead_q())
        if self.value() == "no":
            return queryset.exclude(SourceCheck.dead_q())
        return queryset


@admin.register(SourceCheck)
class SourceCheckAdmin(admin.ModelAdmin):
    """What `manage.py check_sources` found at each source link (issue 15): read only; a
    deleted row is checked first by the next run."""

    list_display = (
        "short_url", "outcome", "status", "checked_at", "failures", "first_failed_at",
        "notice_link",
    )  # fmt: skip
    list_filter = (DeadSourceFilter, "outcome", "status", "checked_at")
    search_fields = ("url", "final_url")
    ordering = ("-checked_at",)
    date_hierarchy = "checked_at"
    list_per_page = 50
    fields = (
        "url", "outcome", "status", "error", "final_url", "redirect_chain", "checked_at",
        "first_failed_at", "failures", "notice_link",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: SourceCheck) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            bump_data_version()  # the notice's page stops saying 原文已失效

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SourceCheck]) -> None:
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            bump_data_version()

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        # The notices of the page's URLs in one query (a notice per row would be 50).
        urls = [check.url for check in changelist.result_list]
        found: dict[str, list[tuple[int, str]]] = {}
        rows = Notice.objects.filter(source_url__in=urls).order_by("-date", "-id")
        for url, notice_id, title in rows.values_list("source_url", "id", "title"):
            found.setdefault(url, []).append((notice_id, title))
        for check in changelist.result_list:
            check._notices = found.get(check.url, [])
        return changelist

    @admin.display(description=_("URL"), ordering="url")
    def short_url(self, check: SourceCheck) -> str:
        shown = check.url if len(check.url) <= 80 else check.url[:79] + "…"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', check.url, shown
        )

    @admin.display(description=_("notice"))
    def notice_link(self, check: SourceCheck) -> str:
        notices = getattr(check, "_notices", None)
        if notices is None:
            rows = Notice.objects.filter(source_url=check.url).order_by("-date", "-id")
            notices = list(rows.values_list("id", "title"))
        if not notices:
            return "—"
        notice_id, title = notices[0]
        link = format_html(
            '<a href="{}">{}</a>', reverse("admin:notices_notice_change", args=[notice_id]), title
        )
        if len(notices) == 1:
            return link
        more = gettext("and %(count)s more") % {"count": len(notices) - 1}
        return format_html("{} {}", link, more)

    @admin.display(description=_("redirects"))
    def redirect_chain(self, check: SourceCheck) -> str:
        hops = [f"{hop.get('status')} {hop.get('url')}" for hop in check.redirects or []]
        if not hops:
            return "—"
        lines = [*hops, f"→ {check.final_url}"]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))
