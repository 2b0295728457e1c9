"""The admin site editors work in (issue 10): its own name, and tags listed with notices.

INSTALLED_APPS names NoticeboardAdminConfig instead of django.contrib.admin, so `admin.site`
everywhere is a NoticeboardAdminSite (Django's documented way to replace the default site).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

# Apps whose models are shown inside the notices app: an editor thinks of tags as part of
# notices, not as a separate "标签项" block (a proxy model would need a migration).
MERGED_INTO_NOTICES = ("taggit",)


class NoticeboardAdminSite(admin.AdminSite):
    site_header = _("Noticeboard administration")
    site_title = _("Noticeboard administration")
    index_title = _("Noticeboard administration")
    # The index's list of models again, beside every page: on a 1280 px screen it took the
    # change list's title column down to a quarter of the table. Breadcrumbs lead back.
    enable_nav_sidebar = False

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        if app_label not in (None, "notices"):
            return super().get_app_list(request, app_label)
        apps = super().get_app_list(request)
        notices = next((app for app in apps if app["app_label"] == "notices"), None)
        if notices is None:
            return apps
        for app in [app for app in apps if app["app_label"] in MERGED_INTO_NOTICES]:
            notices["models"].extend(app["models"])
            apps.remove(app)
        # The notices app's own page (/admin/notices/) lists tags too.
        return [notices] if app_label == "notices" else apps


class NoticeboardAdminConfig(AdminConfig):
    default_site = "notices.admin_site.NoticeboardAdminSite"
