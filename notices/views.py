from __future__ import annotations

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from taggit.models import Tag

from notices.models import Category, Notice, NoticeQuerySet


def paginate(request: HttpRequest, notices: NoticeQuerySet) -> Page:
    paginator = Paginator(notices.for_list(), settings.NOTICES_PAGE_SIZE, orphans=3)
    return paginator.get_page(request.GET.get("page"))


@require_GET
def notice_list(request: HttpRequest) -> HttpResponse:
    page = paginate(request, Notice.objects.published())
    return render(request, "notices/notice_list.html", {"page": page})


@require_GET
def notice_detail(request: HttpRequest, urlname: str) -> HttpResponse:
    notice = get_object_or_404(
        Notice.objects.published().prefetch_related("categories", "tags"), urlname=urlname
    )
    category_trail = []
    categories = list(notice.categories.all())
    if categories:
        leaf = categories[0]
        by_path = {c.path: c for c in Category.objects.filter(path__in=leaf.ancestor_paths())}
        category_trail = [by_path[p] for p in leaf.ancestor_paths() if p in by_path] + [leaf]
    return render(
        request,
        "notices/notice_detail.html",
        {"notice": notice, "categories": categories, "category_trail": category_trail},
    )


@require_GET
def category_detail(request: HttpRequest, path: str) -> HttpResponse:
    category = get_object_or_404(Category, path=path.strip("/"))
    subtree = Category.objects.filter(path__startswith=f"{category.path}/")
    category_ids = [category.id, *subtree.values_list("id", flat=True)]
    notices = Notice.objects.published().filter(categories__in=category_ids).distinct()
    page = paginate(request, notices)
    return render(
        request, "notices/category_detail.html", {"category": category, "page": page}
    )


@require_GET
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = get_object_or_404(Tag, slug=slug)
    page = paginate(request, Notice.objects.published().filter(tags__id=tag.id))
    return render(request, "notices/tag_detail.html", {"tag": tag, "page": page})
