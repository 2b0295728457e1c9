from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("notices.urls")),
]

# A lost database connection anywhere in a request is a 503 page, not a 500 (issue 6).
handler500 = "notices.middleware.server_error"
# JSON for requests that ask for JSON (?format=json, Accept: application/json), else the
# site's pages (issue 12).
handler400 = "notices.middleware.bad_request"
handler404 = "notices.middleware.page_not_found"
