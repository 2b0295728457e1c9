"""A notice's attachments (notices/attachments.py, issue 15): the two derived fields, filled
here for the notices already in the database from their stored (sanitised) body HTML, in
chunks of 1,000 rows (memory stays flat whatever the archive's size), then counted under the
有附件 facet and scope (notices/counts.py), and indexed again for search so that names taken
from addresses (附件.pdf) are found. Only the notices that have attachments are counted and
indexed again; the others gain nothing."""

from django.db import migrations, models

CHUNK = 1000


def fill_attachments(apps, schema_editor) -> None:
    # The live modules: attachments.derive() is pure; counts and search read only columns
    # this migration's state has (ids, site, domain, date, urlname, has_attachments, title,
    # body_html, attachments and the link tables), as 0010 did.
    from notices import attachments, counts, search

    Notice = apps.get_model("notices", "Notice")
    last_id, found_ids = 0, []
    while True:
        chunk = list(
            Notice.objects.filter(id__gt=last_id)
            .order_by("id")
            .only("id", "body_html", "source_url")[:CHUNK]
        )
        if not chunk:
            break
        last_id = chunk[-1].id
        changed = []
        for notice in chunk:
            notice.attachments = attachments.derive(notice.body_html, notice.source_url)
            notice.has_attachments = bool(notice.attachments)
            if notice.has_attachments:
                changed.append(notice)
        if changed:
            Notice.objects.bulk_update(changed, ["attachments", "has_attachments"])
            found_ids += [notice.id for notice in changed]
    for start in range(0, len(found_ids), CHUNK):
        ids = found_ids[start : start + CHUNK]
        # Only the new keys: what these notices counted for before stays as it was.
        counts.apply(
            {
                key: count
                for key, count in counts.contributions(ids).items()
                if counts.is_attachment_key(key)
            }
        )
        search.index_notices(
            Notice.objects.filter(id__in=ids).only(
                "id", "date", "title", "body_html", "attachments"
            )
        )


class Migration(migrations.Migration):
    dependencies = [("notices", "0013_search_position_grams_postgresql")]

    operations = [
        migrations.AddField(
            model_name="notice",
            name="attachments",
            field=models.JSONField(
                blank=True, default=list, editable=False, verbose_name="attachments"
            ),
        ),
        migrations.AddField(
            model_name="notice",
            name="has_attachments",
            field=models.BooleanField(
                default=False, editable=False, verbose_name="has attachments"
            ),
        ),
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(
                fields=["has_attachments", "-date", "-id"], name="notice_attachments_date_id"
            ),
        ),
        migrations.RunPython(fill_attachments, migrations.RunPython.noop),
    ]
