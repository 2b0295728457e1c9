"""The database table of the "throttle" cache (issue 11): admin login failures counted in the
database, so every worker and app server shares them when there is no Redis."""

from django.conf import settings
from django.core.management import call_command
from django.db import migrations

DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"


def create_throttle_cache_table(apps, schema_editor) -> None:
    # With Redis there is no table to make; createcachetable skips a table that exists.
    throttle = settings.CACHES.get("throttle", {})
    if throttle.get("BACKEND") != DATABASE_CACHE:
        return
    call_command(
        "createcachetable",
        throttle["LOCATION"],
        database=schema_editor.connection.alias,
        verbosity=0,
    )


class Migration(migrations.Migration):
    dependencies = [("notices", "0007_history_and_sync_state")]

    operations = [
        migrations.RunPython(create_throttle_cache_table, migrations.RunPython.noop, elidable=False)
    ]
