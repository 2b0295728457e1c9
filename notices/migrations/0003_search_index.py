"""The search index (issue 4): normalised text per notice, plus the backend's own index.

SQLite: a contentless FTS5 table holding each notice's character-pair tokens (already split and
folded by notices/search.py, so the plain `ascii` tokenizer only splits them at spaces).
PostgreSQL: a tsvector column on the same table with a GIN index.
Notices that already exist are indexed here, so a database imported before this migration
can be searched at once (`rebuild_search_index` does the same at any time).
"""

import django.db.models.deletion
from django.db import migrations, models

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE notices_search_fts USING fts5("
    "title, body, content='', tokenize='ascii')",
    # Titles alone too, so "title matches first" reads a small index.
    "CREATE VIRTUAL TABLE notices_search_title_fts USING fts5("
    "title, content='', tokenize='ascii')",
]
SQLITE_DROP = [
    "DROP TABLE IF EXISTS notices_search_fts",
    "DROP TABLE IF EXISTS notices_search_title_fts",
]
POSTGRES_CREATE = [
    "ALTER TABLE notices_searchdocument ADD COLUMN vector tsvector NOT NULL DEFAULT ''",
    "CREATE INDEX notices_searchdocument_vector ON notices_searchdocument USING gin (vector)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS notices_searchdocument_vector",
    "ALTER TABLE notices_searchdocument DROP COLUMN IF EXISTS vector",
]


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_CREATE:
            schema_editor.execute(statement)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_CREATE:
            schema_editor.execute(statement)
    else:
        raise RuntimeError("Search needs SQLite (FTS5) or PostgreSQL.")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_DROP:
            schema_editor.execute(statement)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)


def index_existing_notices(apps, schema_editor):
    Notice = apps.get_model("notices", "Notice")
    if not Notice.objects.using(schema_editor.connection.alias).exists():
        return
    from notices.search import rebuild_index

    rebuild_index()


class Migration(migrations.Migration):
    dependencies = [("notices", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="SearchDocument",
            fields=[
                (
                    "notice",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="notices.notice",
                    ),
                ),
                ("sort_key", models.BigIntegerField(unique=True)),
                ("title", models.TextField()),
                ("body", models.TextField()),
            ],
            options={
                "verbose_name": "search document",
                "verbose_name_plural": "search documents",
            },
        ),
        migrations.RunPython(create_index, drop_index),
        migrations.RunPython(index_existing_notices, migrations.RunPython.noop),
    ]
