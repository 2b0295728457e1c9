from __future__ import annotations

from django.urls import path

from notices import views

app_name = "notices"

# Tag and category slugs are Unicode (taggit's allow_unicode), so <str:> / <path:>, not <slug:>.
urlpatterns = [
    path("", views.notice_list, name="list"),
    path("notices/<str:urlname>/", views.notice_detail, name="detail"),
    path("categories/<path:path>/", views.category_detail, name="category"),
    path("tags/<str:slug>/", views.tag_detail, name="tag"),
]
