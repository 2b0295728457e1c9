"""An index holding what an import decides each file by (issue 13): re-importing an
unchanged archive read every notice row for it, and on SQLite those columns sit after the
body's overflow pages. It leads with source_path, so it replaces that column's own index.
A partial index finds the notices imported before the front matter was kept (issue 9)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0016_source_checks"),
    ]

    operations = [
        migrations.AlterField(
            model_name="notice",
            name="source_path",
            field=models.CharField(blank=True, max_length=1000, verbose_name="source file"),
        ),
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(
                fields=[
                    "source_path",
                    "archive_root",
                    "content_hash",
                    "urlname",
                    "edited_at",
                    "imported_at",
                    "id",
                ],
                name="notice_import_state",
            ),
        ),
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(
                condition=models.Q(
                    ("front_matter", ""), models.Q(("source_path", ""), _negated=True)
                ),
                fields=["id"],
                name="notice_without_front_matter",
            ),
        ),
    ]
