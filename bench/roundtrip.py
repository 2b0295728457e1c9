"""Round trip at scale: generate N documents, import, export, import the export (issue 6),
then edit the title of every tenth notice and export those (issue 9).

    .venv/bin/python bench/roundtrip.py [N]        # N defaults to 10,000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/roundtrip.py 10000

Uses its own database: a SQLite file in a temporary folder, or, with DATABASE_URL pointing at
PostgreSQL, a database named $ROUNDTRIP_DATABASE (default nb_hardening_roundtrip) on that
server, created and dropped again. Prints how many notices differ after the round trip (every
field, tags in order, category paths), how many exported files differ from the generated
ones byte for byte, how many title edits changed exactly one line of their file, plus the time
each step took. It asserts nothing; it exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nb-roundtrip-") as folder:
        tmp = Path(folder)
        given = os.environ.get("DATABASE_URL", "")
        postgres = given.startswith(("postgres://", "postgresql://"))
        name = os.environ.get("ROUNDTRIP_DATABASE", "nb_hardening_roundtrip")
        if postgres:
            base = given.rpartition("/")[0]
            os.environ["DATABASE_URL"] = f"{base}/{name}"
            postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            postgres_admin(given, f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'roundtrip.sqlite3'}"
        try:
            return run(tmp, args.count, args.seed)
        finally:
            if postgres:
                from django.db import connections

                connections.close_all()
                postgres_admin(given, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_admin(url: str, statement: str) -> None:
    """Run `statement` (CREATE/DROP DATABASE) on the server `url` names, outside a transaction."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    server = {
        k: config[k.upper()] for k in ("host", "port", "user", "password") if config.get(k.upper())
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        connection.execute(statement)


def run(tmp: Path, count: int, seed: int) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from notices.exporting import export_notices, notice_records, select_notices
    from notices.importing import import_archive
    from notices.models import Notice
    from sample import write_archive

    call_command("migrate", verbosity=0)
    archive, exported = tmp / "archive", tmp / "exported"
    timings: dict[str, float] = {}

    def step(label: str, function, *a, **kw):
        started = time.perf_counter()
        result = function(*a, **kw)
        timings[label] = time.perf_counter() - started
        return result

    step("generate", write_archive, archive, count, seed=seed)
    first = step("import", import_archive, [archive], batch_size=500)
    before = step("snapshot", notice_records)
    written = step("export", export_notices, select_notices().iterator(chunk_size=1000), exported)
    Notice.objects.all().delete()
    second = step("re-import", import_archive, [exported], batch_size=500)
    after = notice_records()

    edited = step("title edits", edit_titles, archive, tmp / "edited")

    differing = sorted(u for u in before.keys() | after.keys() if before.get(u) != after.get(u))
    generated = sorted(p.relative_to(archive) for p in archive.rglob("*.md"))
    edited_wrong = [path for path, lines in edited.items() if lines != 1]
    byte_diffs = [
        p
        for p in generated
        if not (exported / p).is_file() or (exported / p).read_bytes() != (archive / p).read_bytes()
    ]
    print(f"database            {connection.vendor}")
    print(f"documents           {count:,} generated (seed {seed})")
    print(f"first import        {first.created:,} created, {first.failed} failed")
    print(f"exported            {written:,} documents")
    print(f"second import       {second.created:,} created, {second.failed} failed")
    print(
        f"notices differing   {len(differing)} of {len(before):,} (every field, tags, categories)"
    )
    print(f"files differing     {len(byte_diffs)} of {len(generated):,} (byte for byte)")
    print(
        f"title edits         {len(edited) - len(edited_wrong)} of {len(edited):,} change one line"
    )
    for label, seconds in timings.items():
        print(f"{label:<19} {seconds:7.2f} s")
    for urlname in differing[:5]:
        print("differs:", urlname)
    for path in byte_diffs[:5]:
        print("bytes differ:", path)
    for path in edited_wrong[:5]:
        print(f"title edit changed {edited[path]} lines:", path)
    failed = first.failed or second.failed
    return 1 if differing or byte_diffs or edited_wrong or failed else 0


def edit_titles(archive: Path, out: Path) -> dict[str, int]:
    """Retitle every tenth notice as the admin does; lines changed in each exported file."""
    from notices.exporting import export_notices
    from notices.models import Notice

    notices = list(Notice.objects.order_by("id")[::10])
    for notice in notices:
        notice.title = f"{notice.title} (edited)"
        notice.mark_edited()
        notice.save(update_fields=["title", "edited_at"])
    export_notices(Notice.objects.filter(pk__in=[n.pk for n in notices]).order_by("id"), out)
    changed: dict[str, int] = {}
    for notice in notices:
        old = (archive / notice.source_path).read_text(encoding="utf-8").split("\n")
        new = (out / notice.source_path).read_text(encoding="utf-8").split("\n")
        opcodes = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        changed[notice.source_path] = sum(
            max(a2 - a1, b2 - b1) for tag, a1, a2, b1, b2 in opcodes if tag != "equal"
        )
    return changed


if __name__ == "__main__":
    raise SystemExit(main())
