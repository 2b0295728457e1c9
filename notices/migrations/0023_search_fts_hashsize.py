"""SQLite's FTS5 tables keep up to 16 MB of a transaction's terms in memory (issue 13).

FTS5 writes its pending terms out as a new segment when they pass 'hashsize' (1 MB by
default): a batch of 500 generated notices (some 450,000 tokens) was several segments, each
merged again later. At 16 MB a batch is one segment, written at its commit: the CPU of the
FTS5 writes and commits, 50,000 notices in batches of 500, 0.35 -> 0.31 ms a notice, for some
7 MB more memory while a batch is written. PostgreSQL has no such tables.
"""

from django.db import migrations

FTS_TABLES = ("notices_search_fts", "notices_search_title_fts")
HASH_BYTES = 16 * 1024 * 1024
DEFAULT_HASH_BYTES = 1024 * 1024


def set_hashsize(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "sqlite":
            return
        for table in FTS_TABLES:
            schema_editor.execute(
                f"INSERT INTO {table}({table}, rank) VALUES ('hashsize', {value})"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [("notices", "0022_notice_facet_columns")]

    operations = [migrations.RunPython(set_hashsize(HASH_BYTES), set_hashsize(DEFAULT_HASH_BYTES))]
