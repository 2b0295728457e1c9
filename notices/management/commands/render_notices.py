from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from notices.importing import render_all


class Command(BaseCommand):
    help = (
        "Render every notice's body again: after upgrading Noticeboard, or changing "
        "NOTICES_EMBED_HOSTS or NOTICES_OLD_HOSTS (an import skips unchanged files)."
    )

    def handle(self, *args, **options) -> str:
        started = time.perf_counter()
        changed = render_all()
        return f"{changed} notices changed in {time.perf_counter() - started:.1f} s"
