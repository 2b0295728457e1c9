"""A throwaway database for tests that run manage.py or gunicorn in child processes.

The children cannot see the test database (it lives inside the test's transaction), so they
get their own: a SQLite file in a temporary folder, or, when the suite runs on PostgreSQL, a
database on the same server named after the suite's own (`<name>_scratch_<suffix>`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.conf import settings

SNAPSHOT_CODE = """
import json
from taggit.models import Tag
from notices.exporting import notice_records
from notices.models import Category
orphan_tags = Tag.objects.filter(notices_taggednotice_items__isnull=True).count()
orphan_categories = Category.objects.filter(notices__isnull=True, children__isnull=True).count()
print(json.dumps({"records": notice_records(), "orphan_tags": orphan_tags,
                  "orphan_categories": orphan_categories}, default=str))
"""


class ScratchDatabase:
    def __init__(self, folder: Path, suffix: str):
        given = os.environ.get("DATABASE_URL", "")
        self.postgres = given.startswith(("postgres://", "postgresql://"))
        if self.postgres:
            config = dj_database_url.parse(given)
            self.name = f"{config['NAME']}_scratch_{suffix}"
            self.server = {
                key: config[key.upper()]
                for key in ("host", "port", "user", "password")
                if config.get(key.upper())
            }
            self.url = f"{given.rpartition('/')[0]}/{self.name}"
        else:
            self.url = f"sqlite:///{folder / f'{suffix}.sqlite3'}"

    @property
    def vendor(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as connection:
            connection.execute(statement)

    def __enter__(self) -> ScratchDatabase:
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin(f"CREATE DATABASE \"{self.name}\" TEMPLATE template0 ENCODING 'UTF8'")
        self.manage("migrate", "--noinput", "-v0")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.postgres:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def env(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment.update(DATABASE_URL=self.url, DJANGO_SETTINGS_MODULE="config.settings")
        return environment

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args]

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env(),
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def snapshot(self) -> dict[str, Any]:
        """Every notice (notice_records) plus the orphan tag and category counts."""
        result = self.manage("shell", "-c", SNAPSHOT_CODE)
        if result.returncode:
            raise AssertionError(result.stderr)
        return json.loads(result.stdout.strip().splitlines()[-1])


def listening_socket() -> socket.socket:
    """A loopback socket already bound (to a port the OS chooses) and listening, for a server
    started as `gunicorn --bind fd://N`: probing for a free port and binding it later raced
    with anything else starting at the same moment."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
