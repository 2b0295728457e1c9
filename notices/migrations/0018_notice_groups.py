"""Notices get a signature of their body, the group of notices with the same body from other
sources, and NoticeBand, the indexed LSH keys candidates are found by (issue 15, part 1).
Existing rows are filled here in chunks of ids (bounded memory) with notices/grouping.py, the
functions the importer and Notice.render() use, over this migration's historical models;
the data version is renewed so no cached page misses the groups."""

import uuid

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

_CHUNK = 500


def fill_groups(apps, schema_editor):
    from notices.grouping import Groups, signature

    alias = schema_editor.connection.alias
    Notice = apps.get_model("notices", "Notice")
    DataVersion = apps.get_model("notices", "DataVersion")
    groups = Groups(Notice, apps.get_model("notices", "NoticeBand"), using=alias)
    rows = Notice.objects.using(alias)
    last_id = 0
    while True:
        chunk = list(rows.filter(id__gt=last_id).order_by("id").only("id", "body")[:_CHUNK])
        if not chunk:
            break
        last_id = chunk[-1].id
        for notice in chunk:
            notice.signature = signature(notice.body)
        rows.bulk_update(chunk, ["signature"])
        groups.place([notice.id for notice in chunk])
    DataVersion.objects.using(alias).filter(id=1).update(
        token=uuid.uuid4().hex, changed_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0017_import_speed"),
    ]

    operations = [
        migrations.AddField(
            model_name="notice",
            name="group",
            field=models.IntegerField(
                blank=True, db_index=True, editable=False, null=True, verbose_name="group"
            ),
        ),
        migrations.AddField(
            model_name="notice",
            name="group_size",
            field=models.PositiveIntegerField(default=1, editable=False, verbose_name="group size"),
        ),
        migrations.AddField(
            model_name="notice",
            name="signature",
            field=models.BinaryField(null=True, verbose_name="body signature"),
        ),
        migrations.CreateModel(
            name="NoticeBand",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("key", models.BigIntegerField(db_index=True)),
                (
                    "notice",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="bands",
                        to="notices.notice",
                    ),
                ),
            ],
            options={
                "verbose_name": "signature band",
                "verbose_name_plural": "signature bands",
            },
        ),
        migrations.RunPython(fill_groups, migrations.RunPython.noop, elidable=True),
    ]
