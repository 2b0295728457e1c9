"""Stored counts for list pages and facets (notices/counts.py, issue 13), counted here once
for the notices already in the database; every write keeps them current from then on. The
site index becomes (site, date, id): a site's newest notices are an index range, not a sort
of all of them."""

from django.db import migrations, models


def count_existing(apps, schema_editor) -> None:
    # The live module: it reads only columns this migration's state has (ids, site, domain,
    # date, urlname and the link tables).
    from notices import counts

    counts.rebuild()


class Migration(migrations.Migration):
    dependencies = [("notices", "0009_summaries_skip_salutations")]

    operations = [
        migrations.CreateModel(
            name="FacetCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scope", models.CharField(max_length=210)),
                ("facet", models.CharField(max_length=1)),
                ("value", models.CharField(max_length=210)),
                ("count", models.IntegerField(default=0)),
            ],
            options={
                "verbose_name": "facet count",
                "verbose_name_plural": "facet counts",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scope", "facet", "value"), name="facetcount_key"
                    )
                ],
            },
        ),
        migrations.AlterField(
            model_name="notice",
            name="site",
            field=models.CharField(blank=True, max_length=200, verbose_name="site"),
        ),
        migrations.AddIndex(
            model_name="notice",
            index=models.Index(fields=["site", "-date", "-id"], name="notice_site_date_id"),
        ),
        migrations.RunPython(count_existing, migrations.RunPython.noop),
    ]
