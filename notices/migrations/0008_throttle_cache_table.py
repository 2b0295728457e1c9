"""The database table of the "throttle" cache (issue 11): admin login failures counted in the
database, so every worker and app server shares them when there is no Redis."""

from django.core.management import call_command
from django.db import migrations


def create_throttle_cache_table(apps, schema_editor) -> None:
    # createcachetable does nothing for a cache that is not a DatabaseCache (Redis) and for a
    # table that already exists, so this is safe to run in every set-up.
    call_command(
        "createcachetable", "throttle", database=schema_editor.connection.alias, verbosity=0
    )


class Migration(migrations.Migration):
    dependencies = [("notices", "0007_history_and_sync_state")]

    operations = [
        migrations.RunPython(create_throttle_cache_table, migrations.RunPython.noop, elidable=False)
    ]
