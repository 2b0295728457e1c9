from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0019_group_order"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(
                fields=["id", "site", "date", "has_attachments"], name="notice_facet_columns"
            ),
        ),
    ]
