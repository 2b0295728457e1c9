"""Readers are served while an import writes (SQLite in WAL mode, or PostgreSQL when the
suite runs on it): gunicorn and `import_notices` at once, against one database (issue 6)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.test import TransactionTestCase

from sample import write_archive
from tests.scratch_database import ScratchDatabase, listening_socket


class ReadingWhileImportingTests(TransactionTestCase):
    def test_pages_answer_200_during_a_large_import(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            write_archive(tmp / "first", 60, seed=1)
            write_archive(tmp / "second", 1500, seed=2)
            with ScratchDatabase(tmp, "reading") as database:
                result = database.manage("import_notices", str(tmp / "first"))
                self.assertEqual(result.returncode, 0, result.stderr)
                # Production settings serve hashed static files: collect them, as a deploy does.
                production = {
                    **database.env(),
                    "DEBUG": "0",
                    "SECRET_KEY": "test-" + "x" * 50,
                    "ALLOWED_HOSTS": "127.0.0.1",
                    "STATIC_ROOT": str(tmp / "static"),
                }
                collected = subprocess.run(
                    database.command("collectstatic", "--noinput", "-v0"),
                    env=production,
                    cwd=settings.BASE_DIR,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                self.assertEqual(collected.returncode, 0, collected.stderr)
                sock = listening_socket()
                port = sock.getsockname()[1]
                server = subprocess.Popen(
                    [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
                     "config.wsgi"],
                    cwd=settings.BASE_DIR,
                    env={**production, "GUNICORN_BIND": f"fd://{sock.fileno()}",
                         "WEB_CONCURRENCY": "2"},
                    pass_fds=[sock.fileno()],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    statuses = self.read_during_import(database, port, tmp / "second")
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                    sock.close()
        self.assertGreaterEqual(len(statuses), 20, "too few requests overlapped the import")
        self.assertEqual({status for _, status in statuses}, {200}, statuses[:20])

    def read_during_import(self, database: ScratchDatabase, port: int, archive: Path):
        base = f"http://127.0.0.1:{port}"
        detail = hashlib.md5(b"1:0", usedforsecurity=False).hexdigest()
        paths = ["/", "/?page=2", f"/notices/{detail}/", f"/search/?q={quote('通知')}",
                 f"/search/?q={quote('招生')}", "/tags/", "/categories/"]  # fmt: skip
        self.wait_until_up(base)
        importer = subprocess.Popen(
            database.command("import_notices", str(archive), "--batch-size", "100"),
            env=database.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        statuses: list[tuple[str, int]] = []
        while importer.poll() is None:
            path = paths[len(statuses) % len(paths)]
            statuses.append((path, self.status(base + path)))
        _, errors = importer.communicate()
        self.assertEqual(importer.returncode, 0, errors)
        return statuses

    def wait_until_up(self, base: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.status(base + "/") == 200:
                return
            time.sleep(0.2)
        self.fail("gunicorn did not start")

    @staticmethod
    def status(url: str) -> int:
        try:
            with urllib.request.urlopen(url, timeout=20) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0
