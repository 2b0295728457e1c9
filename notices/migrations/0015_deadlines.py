"""Notices get the deadline their body sets and the phrase it came from (issue 15, part 3),
with the (deadline, id) index /deadlines/ reads. Existing rows are filled here from their
stored HTML in chunks of ids (notices/deadlines.py, the function Notice.render() and the
importer use), and the data version is renewed so no cached page misses them."""

import uuid

from django.db import migrations, models
from django.utils import timezone

_CHUNK = 500


def fill_deadlines(apps, schema_editor):
    from notices.deadlines import notice_deadline

    Notice = apps.get_model("notices", "Notice")
    DataVersion = apps.get_model("notices", "DataVersion")
    rows = Notice.objects.using(schema_editor.connection.alias)
    last_id = 0
    while True:
        chunk = list(
            rows.filter(id__gt=last_id).order_by("id").only("id", "date", "body_html")[:_CHUNK]
        )
        if not chunk:
            break
        last_id = chunk[-1].id
        found = []
        for notice in chunk:
            notice.deadline, notice.deadline_phrase = notice_deadline(notice.body_html, notice.date)
            if notice.deadline:
                found.append(notice)
        if found:
            rows.bulk_update(found, ["deadline", "deadline_phrase"])
    DataVersion.objects.using(schema_editor.connection.alias).filter(id=1).update(
        token=uuid.uuid4().hex, changed_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [("notices", "0014_attachments")]

    operations = [
        migrations.AddField(
            model_name="notice",
            name="deadline",
            field=models.DateField(blank=True, editable=False, null=True, verbose_name="deadline"),
        ),
        migrations.AddField(
            model_name="notice",
            name="deadline_phrase",
            field=models.CharField(
                blank=True, editable=False, max_length=200, verbose_name="deadline phrase"
            ),
        ),
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(fields=["deadline", "id"], name="notice_deadline_id"),
        ),
        migrations.RunPython(fill_deadlines, migrations.RunPython.noop, elidable=True),
    ]
