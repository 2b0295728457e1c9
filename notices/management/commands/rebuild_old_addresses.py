from __future__ import annotations

from django.core.management.base import BaseCommand

from notices.importing import rebuild_old_addresses


class Command(BaseCommand):
    help = (
        "Recompute the old-site addresses (301 redirects) of every notice, "
        "after changing NOTICES_PERMALINK."
    )

    def handle(self, *args, **options) -> str:
        return f"{rebuild_old_addresses()} old addresses"
