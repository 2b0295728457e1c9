"""Readers under load while an import writes: errors and latency percentiles (issue 6).

    .venv/bin/python bench/load_during_import.py                      # SQLite (WAL), 60 s
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/load_during_import.py
    .venv/bin/python bench/load_during_import.py --outage 20:10 \\
        --database-url postgres://postgres@127.0.0.1:5433/x --cluster "15 nbfault"

Serves a database of --initial generated notices with gunicorn (gunicorn.conf.py, 127.0.0.1, a
port the OS chooses) and, for --seconds, runs --clients client threads over a mix of list pages,
detail pages, tag/category pages and searches (2-4 character Chinese words, phrases, Latin,
words with no hits) while `import_notices` writes another --import notices (re-imported with
--overwrite whenever it finishes early). Loopback only, bounded in time.

The database is the script's own: a SQLite file in a temporary folder, or on the PostgreSQL
server of DATABASE_URL (or --database-url) a database named nb_hardening_load, dropped after.
With --outage START:LENGTH and --cluster "VERSION NAME", that PostgreSQL cluster is stopped
START seconds in and started again LENGTH seconds later (use a cluster of your own, not the
shared one): the figures then show 503s while it is down and 200s after it is back.

Prints requests, errors (anything but 200, or 503 outside an outage), p50/p95/p99 per kind.
A benchmark prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
from serving import gunicorn  # noqa: E402  (bench/, next to this script)

SEARCHES = ["通知", "招生", "奖学金", "疫情防控", "关于做好", "放假安排", "学院 通知", "student",
            "2021", "不存在的词语组合", "考试 安排", "公示"]  # fmt: skip


class Database:
    def __init__(self, folder: Path, given: str):
        self.given = given
        self.postgres = given.startswith(("postgres://", "postgresql://"))
        self.url = (
            f"{given.rpartition('/')[0]}/nb_hardening_load"
            if self.postgres
            else f"sqlite:///{folder / 'load.sqlite3'}"
        )

    def admin(self, statement: str) -> None:
        import psycopg

        admin_url = f"{self.given.rpartition('/')[0]}/postgres"
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(statement)

    def create(self) -> None:
        if self.postgres:
            self.drop()
            self.admin("CREATE DATABASE nb_hardening_load TEMPLATE template0 ENCODING 'UTF8'")

    def drop(self) -> None:
        if self.postgres:
            self.admin("DROP DATABASE IF EXISTS nb_hardening_load WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--initial", type=int, default=3000)
    parser.add_argument("--import", dest="import_count", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--outage", help="START:LENGTH seconds to stop --cluster")
    parser.add_argument("--cluster", help='PostgreSQL cluster to stop, as "VERSION NAME"')
    args = parser.parse_args()
    if args.outage and not args.cluster:
        parser.error("--outage needs --cluster (a cluster of your own)")

    from sample import write_archive

    with tempfile.TemporaryDirectory(prefix="nb-load-") as folder:
        tmp = Path(folder)
        database = Database(tmp, args.database_url)
        env = {
            **os.environ,
            "DATABASE_URL": database.url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": "load-test-only-" + "x" * 50,
            "ALLOWED_HOSTS": "127.0.0.1",
            "CACHE_KEY_PREFIX": f"nb-hardening-load-{os.getpid()}",
            "STATIC_ROOT": str(tmp / "static"),
        }

        def manage(*command: str, **popen) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, str(BASE_DIR / "manage.py"), *command], env=env, cwd=BASE_DIR,
                **popen,
            )  # fmt: skip

        print(f"preparing: {args.initial:,} notices served, {args.import_count:,} to import")
        write_archive(tmp / "initial", args.initial, seed=1)
        write_archive(tmp / "incoming", args.import_count, seed=2)
        database.create()
        try:
            setup = (
                ["migrate", "-v0"],
                ["collectstatic", "--noinput", "-v0"],  # production settings serve hashed files
                ["import_notices", str(tmp / "initial"), "-v0"],
            )
            for command in setup:
                if manage(*command).wait():
                    raise SystemExit(f"{command[0]} failed")
            with gunicorn(env, args.workers) as served:
                return run_load(args, served.url, tmp, manage)
        finally:
            if args.cluster:
                subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect",
                                *args.cluster.split(), "start"], capture_output=True)  # fmt: skip
            database.drop()


def run_load(args, base: str, tmp: Path, manage) -> int:
    wait_until_up(base)
    details = [hashlib.md5(f"1:{i}".encode(), usedforsecurity=False).hexdigest()
               for i in range(args.initial)]  # fmt: skip
    pages = max(args.initial // 20, 1)

    def pick(rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < 0.3:
            return "list", f"/?page={rng.randint(1, pages)}" if rng.random() < 0.7 else "/"
        if roll < 0.6:
            return "detail", f"/notices/{rng.choice(details)}/"
        if roll < 0.7:
            return "browse", rng.choice(["/tags/", "/categories/", "/archive/", "/sites/"])
        query = rng.choice(SEARCHES)
        extra = rng.choice(["", "&sort=date", "&page=2"])
        return "search", f"/search/?q={quote(query)}{extra}"

    results: list[tuple[float, str, int, float]] = []
    lock = threading.Lock()
    started = time.monotonic()
    stop_at = started + args.seconds
    outage = tuple(map(float, args.outage.split(":"))) if args.outage else None

    def client(number: int) -> None:
        rng = random.Random(number)
        while time.monotonic() < stop_at:
            kind, path = pick(rng)
            sent = time.monotonic()
            status = fetch(base + path)
            with lock:
                results.append((sent - started, kind, status, time.monotonic() - sent))

    imports = 0
    importer = manage("import_notices", str(tmp / "incoming"), "-v0",
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for thread in threads:
        thread.start()
    cluster_down = False
    while time.monotonic() < stop_at:
        elapsed = time.monotonic() - started
        if outage and not cluster_down and outage[0] <= elapsed < outage[0] + outage[1]:
            pg_cluster(args.cluster, "stop")
            cluster_down = True
        if outage and cluster_down and elapsed >= outage[0] + outage[1]:
            pg_cluster(args.cluster, "start")
            cluster_down, outage = False, None
        if importer.poll() is not None and not cluster_down:
            # Finished (or failed in an outage): write everything again.
            print(f"  {time.strftime('%H:%M:%S')} import exited with status {importer.returncode}")
            imports += 1
            importer = manage("import_notices", str(tmp / "incoming"), "-v0", "--overwrite",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    import_running = importer.poll() is None
    if import_running:
        importer.send_signal(signal.SIGTERM)
    importer.wait()
    report(args, results, imports, import_running)
    return 0


def pg_cluster(cluster: str, action: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} pg_ctlcluster {cluster} {action}")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster.split(), action],
                   check=True)  # fmt: skip


def report(args, results, imports: int, import_running: bool) -> None:
    by_kind: dict[str, list[float]] = defaultdict(list)
    statuses: Counter[int] = Counter()
    outage = tuple(map(float, args.outage.split(":"))) if args.outage else None
    errors = 0
    error_kinds: Counter[tuple[int, str, int]] = Counter()
    for sent_at, kind, status, latency in results:
        by_kind[kind].append(latency)
        statuses[status] += 1
        # During an outage (and a few seconds after) 503 is the right answer.
        in_outage = outage and outage[0] <= sent_at <= outage[0] + outage[1] + 5
        if status != 200 and not (in_outage and status == 503):
            errors += 1
            error_kinds[(status, kind, round(sent_at))] += 1
    total = len(results)
    print(f"\nload: {args.clients} clients, {args.seconds:.0f} s, gunicorn {args.workers} workers, "
          f"database {args.database_url.split('@')[-1] or 'SQLite (WAL)'}")  # fmt: skip
    print(
        f"imports during the run: {imports} finished, "
        f"{'one still running at the end' if import_running else 'none running at the end'}"
    )
    print(f"requests {total:,} ({total / args.seconds:,.0f}/s), statuses {dict(statuses)}, "
          f"errors {errors}")  # fmt: skip
    for (status, kind, second), count in sorted(error_kinds.items()):
        print(f"  error: {count} x status {status} ({kind}) at {second} s")
    print(f"{'kind':<8} {'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, latencies in sorted(by_kind.items()):
        print(
            f"{kind:<8} {len(latencies):>7,} "
            + " ".join(
                f"{value * 1000:>8.1f}" for value in (*percentiles(latencies), max(latencies))
            )
        )
    everything = [latency for latencies in by_kind.values() for latency in latencies]
    if everything:
        print(
            f"{'all':<8} {len(everything):>7,} "
            + " ".join(
                f"{value * 1000:>8.1f}" for value in (*percentiles(everything), max(everything))
            )
        )
    if outage:
        after = [status for sent_at, _, status, _ in results if sent_at > outage[0] + outage[1] + 5]
        print(f"after the outage (+5 s): {Counter(after)}")


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (0.0,) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if fetch(base + "/") == 200:
            return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


if __name__ == "__main__":
    raise SystemExit(main())
