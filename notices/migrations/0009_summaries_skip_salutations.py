"""Summaries start at a notice's first real line, not its address ("各学院、各部门：", issue 12).

An import skips files whose bytes are unchanged, so existing notices get the new summary here,
from the stored HTML: no re-import and no full re-render. Only a body with Hexo's
`<!-- more -->` marker is rendered again, for its lead (the stored HTML no longer has the
marker). `manage.py render_notices` gives the same summaries, rendering every body.
"""

import re
import uuid

from django.db import migrations
from django.utils import timezone

_MORE = re.compile(r"<!--\s*more\s*-->", re.IGNORECASE)
_CHUNK = 500


def summarize_again(apps, schema_editor) -> None:
    from notices.rendering import RenderedBody, render_notice, summarize

    Notice = apps.get_model("notices", "Notice")
    DataVersion = apps.get_model("notices", "DataVersion")
    database = schema_editor.connection.alias
    notices = Notice.objects.using(database)
    fields = ("id", "body", "body_html", "source_url", "extra", "summary")
    ids = list(notices.order_by("id").values_list("id", flat=True))
    changed_count = 0
    for start in range(0, len(ids), _CHUNK):
        changed = []
        for notice in notices.filter(id__in=ids[start : start + _CHUNK]).only(*fields):
            rendered = RenderedBody(notice.body_html)
            if _MORE.search(notice.body):
                rendered = RenderedBody(
                    notice.body_html, render_notice(notice.body, notice.source_url).lead_html
                )
            summary = summarize(rendered, notice.extra or {})
            if summary != notice.summary:
                notice.summary = summary
                changed.append(notice)
        notices.bulk_update(changed, ["summary"])
        changed_count += len(changed)
    if changed_count:
        # Cached list pages show the old summaries: make them unreachable (notices/caching.py).
        DataVersion.objects.using(database).update(
            token=uuid.uuid4().hex, changed_at=timezone.now()
        )


class Migration(migrations.Migration):
    dependencies = [("notices", "0008_throttle_cache_table")]

    operations = [migrations.RunPython(summarize_again, migrations.RunPython.noop)]
