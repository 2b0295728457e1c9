"""A notice's attachments (notices/attachments.py, issue 15): the two derived fields, filled
here for the notices already in the database from their stored (sanitised) body HTML, in
chunks of 1,000 rows (memory stays flat whatever the archive's size), then counted under the
有附件 facet and scope (notices/counts.py), and indexed again for search when a name is not in
the body's text (a name taken from an address, 附件.pdf). Only the notices that have
attachments are counted, and only those few indexed again; the others gain nothing.
bench/attachments.py measures it (README: Attachments)."""

from django.db import migrations, models

CHUNK = 1000


def fill_attachments(apps, schema_editor) -> None:
    # The live modules: attachments.derive() is pure; counts and search read only columns
    # this migration's state has (ids, site, domain, date, urlname, has_attachments, title,
    # body_html, attachments and the link tables), as 0010 did.
    from notices import attachments, counts, search
    from notices.rendering import plain_text

    Notice = apps.get_model("notices", "Notice")
    last_id, found_ids, unindexed_ids = 0, [], []
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
                # Indexed again only if a name is not in the body's text already (a name
                # taken from an address): most are the link's own text.
                text = plain_text(notice.body_html)
                if any(item["name"] not in text for item in notice.attachments):
                    unindexed_ids.append(notice.id)
        if changed:
            _write(Notice, changed, schema_editor.connection)
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
    for start in range(0, len(unindexed_ids), CHUNK):
        ids = unindexed_ids[start : start + CHUNK]
        search.index_notices(
            Notice.objects.filter(id__in=ids).only(
                "id", "date", "title", "body_html", "attachments"
            )
        )


def _write(Notice, notices, connection) -> None:
    """UPDATE the two fields, one statement per row in one executemany: bulk_update's CASE
    expressions took two thirds of the time (3.6 of 5.4 s for 10,000 notices)."""
    field = Notice._meta.get_field("attachments")
    table = connection.ops.quote_name(Notice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET attachments = %s, has_attachments = %s WHERE id = %s",
            [
                (field.get_db_prep_save(notice.attachments, connection), True, notice.id)
                for notice in notices
            ],
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
