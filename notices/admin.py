from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import widgets
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notices.exporting import export_zip
from notices.models import Category, DateSource, Notice
from notices.old_urls import PostLinks
from notices.search import filter_notices, index_notices


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


class NoticeForm(forms.ModelForm):
    class Meta:
        model = Notice
        fields = ("body",)  # the admin's fieldsets choose the rest
        widgets = {"date": SecondsSplitDateTime, "updated": SecondsSplitDateTime}

    def clean_body(self) -> str:
        # Browsers send a textarea's lines with CRLF: that is not an edit. A body stored with
        # CRLF (a file with mixed line endings) keeps what the browser sends.
        body = self.cleaned_data["body"]
        if "\r\n" not in (self.instance.body or ""):
            body = body.replace("\r\n", "\n")
        return body


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    form = NoticeForm
    list_display = ("title", "site", "date", "category_names", "tag_names", "has_source_link")
    actions = ("export_selected",)
    list_filter = (
        HasSourceLinkFilter,
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
    readonly_fields = (
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
    fieldsets = (
        (None, {"fields": ("title", "site", "domain", "date", "updated", "source_url", "body")}),
        (_("Classification"), {"fields": ("categories", "tags")}),
        (
            _("Import"),
            {
                "classes": ("collapse",),
                "fields": readonly_fields,
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

    @admin.display(description=_("categories"))
    def category_names(self, notice: Notice) -> str:
        return ", ".join(category.full_name for category in notice.categories.all())

    @admin.display(description=_("tags"))
    def tag_names(self, notice: Notice) -> str:
        return ", ".join(tag.name for tag in notice.tags.all())

    @admin.display(description=_("source link"), boolean=True)
    def has_source_link(self, notice: Notice) -> bool:
        return bool(notice.source_url)

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
        links = PostLinks()
        obj.render(resolve_post=links.title, resolve_link=links.link)
        if "date" in form.changed_data:
            obj.date_source = DateSource.FRONT_MATTER  # an editor's date is no longer a guess
        if change and form.changed_data:
            obj.mark_edited()
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


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
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
