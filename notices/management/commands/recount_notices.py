from __future__ import annotations

from django.core.management.base import BaseCommand

from notices.caching import bump_data_version
from notices.counts import rebuild


class Command(BaseCommand):
    help = (
        "Recount the stored list counts and facets from every notice, after writes that went "
        "around the models (raw SQL, QuerySet.update() of site or date, loaddata) or a change of "
        "TIME_ZONE (months are counted in the site's time zone)."
    )

    def handle(self, *args, **options) -> str:
        rows = rebuild()
        bump_data_version()  # cached pages and facets were made from the old counts
        return f"{rows} count rows"
