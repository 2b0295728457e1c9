"""The data version row that keys every cached value, and a (tag, notice) index (issue 5)."""

import uuid

from django.db import migrations, models
from django.utils import timezone


def create_row(apps, schema_editor):
    apps.get_model("notices", "DataVersion").objects.create(
        id=1, token=uuid.uuid4().hex, changed_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0003_search_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(max_length=32)),
                ("changed_at", models.DateTimeField()),
            ],
            options={"verbose_name": "data version", "verbose_name_plural": "data versions"},
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="taggednotice",
            index=models.Index(fields=["tag", "-content_object"], name="taggednotice_tag_notice"),
        ),
    ]
