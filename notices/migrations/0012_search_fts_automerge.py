"""SQLite's FTS5 tables merge their segments 8 at a time rather than 4 (issue 13).

An import writes a segment per batch, and every merge rewrites the tokens in it: at 4 a
notice's tokens were rewritten about twice as often. Merging 8 cut the CPU time of the
index writes by a fifth (10,000 generated notices, 500 a batch: 2,050 -> 2,470 notices/s),
while a query reads a few more segments: phrase queries took 0.33 -> 0.38 ms, a
one-character prefix query stayed at 17-21 ms. PostgreSQL has no such tables.
"""

from django.db import migrations

FTS_TABLES = ("notices_search_fts", "notices_search_title_fts")


def set_automerge(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "sqlite":
            return
        for table in FTS_TABLES:
            schema_editor.execute(
                f"INSERT INTO {table}({table}, rank) VALUES ('automerge', {value})"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [("notices", "0011_search_grams_postgresql")]

    operations = [migrations.RunPython(set_automerge(8), set_automerge(4))]
