"""Hostile archive, production server: the cost of each page type and of each import (issue 11).

    .venv/bin/python bench/abuse.py [--quick] [--workers 2] [--show-urls]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/abuse.py

Writes an archive of the project's own making into a temporary folder: the findings of issue 11
(16 tables of a 1,000-column header and 1,000 one-cell rows in ~96 KB; `<div/>` nested 20,000
and 80,000 deep; 20,000 `<div>` each followed by a stray end tag; a 4.5 MB body of `<b>a</b>`;
300 notices of 40 KB, the newest, so every feed is full of them; bidi and zero-width titles,
tags and urlname; `<code class>` borrowing the site's own classes) and ~100 generated notices.

Each hostile file is imported alone by `import_notices` in a child process (wall time and peak
RSS from os.wait4; an import of an empty folder is the baseline of Django's start-up), then the
rest in one run. The database is the script's own: a SQLite file in the temporary folder, or
with DATABASE_URL pointing at PostgreSQL a database named nb_abuse_bench there, dropped after.
Then gunicorn (gunicorn.conf.py; DEBUG=0, collectstatic first, 127.0.0.1, a port the OS
chooses: bench/serving.py)
gets requests one at a time, per page type: lists, each hostile detail page, highlight on the
big ones, searches, feeds (and 40 random query strings on /atom.xml), sitemap, archive,
out-of-range parameters, 999 junk query parameters. Worker RSS (VmRSS/VmHWM of gunicorn's
workers, from /proc) is sampled while the requests run.

Prints per page type: requests, statuses, slowest request, largest response, peak worker RSS;
per import: seconds and peak RSS (and what the import said: warnings, limits hit); the targets
beside the figures. Then: each page with 999 junk parameters against the same page without; the
3 slowest pages requested by twice as many clients as workers while the front page is timed;
invisible characters left in the bidi notice's title, page, JSON and tags, and the `<code
class>` values kept. All times are wall times: the load average is printed beside them.

--quick writes a smaller archive (1 table, 20k nesting, a 1 MB bold body, 60 big notices) and
sends fewer requests: under a minute on an idle machine.
A benchmark prints figures; it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
from serving import gunicorn  # noqa: E402  (bench/, next to this script)

DATABASE_NAME = "nb_abuse_bench"

# The targets, printed beside the figures.
TARGET_SECONDS = 1.0
TARGET_BYTES = 2 * 1024 * 1024
TARGET_RSS = 300 * 1024 * 1024
TARGET_IMPORT_SECONDS = 2.0

# Invisible or direction-changing characters: RLO, LRI, PDI, ZWSP, ZWJ, BOM, RLM.
RLO, LRI, PDI, ZWSP, ZWJ, ZWNBSP, RLM = (
    "\u202e",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u200f",
)  # noqa: E501
# Latin words a search can hit everywhere ("a", "aaaa", "para").
FILLER = "para a aaaa alpha beta gamma delta epsilon para aaaa a zeta eta theta iota kappa. "


@dataclass
class Sizes:
    tables: int
    nesting: tuple[int, ...]
    stray: int
    bold_bytes: int
    big_notices: int
    big_bytes: int
    normal: int
    random_feeds: int
    junk_pages: int

    @classmethod
    def of(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1, (20_000,), 20_000, 1_000_000, 60, 40_000, 30, 5, 3)
        return cls(16, (20_000, 80_000), 20_000, 4_500_000, 300, 40_000, 100, 40, 5)


# --- The hostile archive -----------------------------------------------------------------------


def front_matter(title: str, urlname: str, date: str, tags: list[str] | None = None) -> str:
    lines = [
        "---",
        f"title: {json.dumps(title, ensure_ascii=False)}",
        f"date: {date}",
        f"urlname: {json.dumps(urlname, ensure_ascii=False)}",
    ]
    if tags:
        lines += ["tags:", *(f"- {json.dumps(tag, ensure_ascii=False)}" for tag in tags)]
    lines += ["categories:", "- abuse.example.edu", "- 北岸理工大学", "---", ""]
    return "\n".join(lines)


def hostile_documents(sizes: Sizes) -> dict[str, str]:
    """name -> document text; the name is the file stem and the urlname (bar the bidi one)."""
    date = "2026-11-30 12:00:00"
    # A 1,000-column header and 1,000 one-cell rows: GFM pads every row to the header's width.
    table = "|".join(["a"] * 1000) + "\n" + "|".join(["-"] * 1000) + "\n" + "a\n" * 1000
    documents = {
        "abuse-tables": front_matter("宽表格", "abuse-tables", date)
        + "\n".join([table] * sizes.tables),
        # `<div/>` is not self-closing in HTML: each opens one more level.
        **{
            f"abuse-nest-{depth // 1000}k": front_matter(
                f"嵌套 {depth}", f"abuse-nest-{depth // 1000}k", date
            )
            + "<div/>" * depth
            + "\n"
            for depth in sizes.nesting
        },
        # A stray end tag after each <div>: a guard counting every end tag reads depth 0-1.
        "abuse-stray-end-tags": front_matter("多余的结束标签", "abuse-stray-end-tags", date)
        + "<div></span>" * sizes.stray
        + "\n",
        "abuse-bold": front_matter("粗体", "abuse-bold", date)
        + "<b>a</b>" * (sizes.bold_bytes // 8)
        + "\n",
        "abuse-bidi": front_matter(
            f"通知{RLO}txt.exe{ZWSP}{ZWJ}{ZWNBSP}{RLM}",
            f"abuse-{ZWSP}bidi{RLO}",
            date,
            tags=[f"标签{LRI}{RLO}{PDI}", f"{ZWSP}招生{ZWJ}"],
        )
        + f"正文{RLO}fdp.exe{ZWSP}\n",
        "abuse-code-class": front_matter("借用类名", "abuse-code-class", date)
        + '<code class="visually-hidden page-title site breadcrumbs">hidden</code>\n\n'
        + '<pre><code class="error-page container">x</code></pre>\n\n'
        + "```page-title visually-hidden\ncode\n```\n",
    }
    return documents


def write_archive(tmp: Path, sizes: Sizes) -> tuple[dict[str, Path], Path]:
    """Each hostile file in a folder of its own; the generated and big notices in another."""
    from sample import write_archive as write_generated

    hostile: dict[str, Path] = {}
    for name, text in hostile_documents(sizes).items():
        folder = tmp / "hostile" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
        hostile[name] = folder
    bulk = tmp / "bulk"
    write_generated(bulk / "generated", sizes.normal, seed=11)
    big_folder = bulk / "big"
    big_folder.mkdir(parents=True)
    paragraph = FILLER * 4 + "\n\n"
    body = paragraph * (sizes.big_bytes // len(paragraph) + 1)
    for number in range(sizes.big_notices):
        # The newest notices: the feeds and the first list pages are all 40 KB bodies.
        minute = f"2026-12-01 {number // 60:02d}:{number % 60:02d}:00"
        (big_folder / f"abuse-big-{number:03d}.md").write_text(
            front_matter(f"大通知 {number}", f"abuse-big-{number:03d}", minute, ["大"]) + body,
            encoding="utf-8",
        )
    return hostile, bulk


# --- Database, imports, server -----------------------------------------------------------------


class Database:
    def __init__(self, folder: Path, given: str):
        self.given = given
        self.postgres = given.startswith(("postgres://", "postgresql://"))
        self.url = (
            f"{given.rpartition('/')[0]}/{DATABASE_NAME}"
            if self.postgres
            else f"sqlite:///{folder / 'abuse.sqlite3'}"
        )
        self.label = (
            f"PostgreSQL {self.url.split('@')[-1]}"
            if self.postgres
            else "SQLite (a temporary file)"
        )

    def admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.given.rpartition('/')[0]}/postgres", autocommit=True) as c:
            c.execute(statement)

    def create(self) -> None:
        if self.postgres:
            self.drop()
            self.admin(f"CREATE DATABASE {DATABASE_NAME} TEMPLATE template0 ENCODING 'UTF8'")

    def drop(self) -> None:
        if self.postgres:
            self.admin(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")


@dataclass
class ImportRun:
    name: str
    size: int
    seconds: float
    peak_rss: int  # bytes
    cpu: float  # user + system seconds of the child
    status: int
    output: str


def run_child(
    command: list[str], env: dict[str, str], timeout: float
) -> tuple[float, int, int, str, float]:
    """(wall seconds, peak RSS in bytes, exit status, output) of one child, from os.wait4."""
    with tempfile.TemporaryFile() as output_file:
        return _wait_for_child(command, env, timeout, output_file)


def _wait_for_child(
    command: list[str], env: dict[str, str], timeout: float, output_file
) -> tuple[float, int, int, str, float]:
    started = time.monotonic()
    child = subprocess.Popen(
        command, env=env, cwd=BASE_DIR, stdout=output_file, stderr=subprocess.STDOUT
    )
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.01)
    child.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    seconds = time.monotonic() - started
    output_file.seek(0)
    output = output_file.read().decode("utf-8", "replace")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss * 1024, child.returncode, output, cpu


def import_folder(name: str, folder: Path, env: dict[str, str], timeout: float) -> ImportRun:
    size = sum(p.stat().st_size for p in folder.rglob("*.md"))
    command = [
        sys.executable,
        str(BASE_DIR / "manage.py"),
        "import_notices",
        str(folder),
        "--no-progress",
        "-v1",
    ]
    seconds, rss, status, output, cpu = run_child(command, env, timeout)
    return ImportRun(name, size, seconds, rss, cpu, status, output)


def worker_pids(master: int) -> list[int]:
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]
    except OSError:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(stat.parent.name))
        return pids


def memory_of(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; (0, 0) once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values.get("VmRSS", 0)) * 1024, int(values.get("VmHWM", 0)) * 1024


class MemorySampler(threading.Thread):
    """Peak RSS of gunicorn's workers, overall and while each page type runs."""

    def __init__(self, master: int):
        super().__init__(daemon=True)
        self.master = master
        self.kind = "start"
        self.peak_by_kind: dict[str, int] = defaultdict(int)
        self.hwm_by_pid: dict[int, int] = {}
        self.stopping = threading.Event()

    def sample(self) -> None:
        for pid in worker_pids(self.master):
            rss, hwm = memory_of(pid)
            if hwm:
                self.hwm_by_pid[pid] = max(self.hwm_by_pid.get(pid, 0), hwm)
            self.peak_by_kind[self.kind] = max(self.peak_by_kind[self.kind], rss)

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            self.sample()


def workers_cpu(master: int) -> float:
    """User + system CPU seconds of gunicorn's live workers: independent of the machine's load."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in worker_pids(master):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# --- Requests ----------------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    path: str
    status: int  # 0: connection closed or timed out (a worker killed by gunicorn's timeout)
    seconds: float
    size: int
    cpu: float = 0.0  # CPU seconds the workers spent on it (requests go one at a time)


@dataclass
class Kind:
    results: list[Result] = field(default_factory=list)


def fetch(base: str, path: str, timeout: float) -> tuple[int, int]:
    request = urllib.request.Request(base + path, headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as error:
        return error.code, len(error.read() or b"")
    except (OSError, ValueError):
        return 0, 0


def plan_requests(sizes: Sizes, urlnames: dict[str, str], normal: str) -> list[tuple[str, str]]:
    def detail(name: str) -> str:
        return f"/notices/{quote(urlnames.get(name, name))}/"

    rng = random.Random(11)
    big = [
        "abuse-tables",
        "abuse-bold",
        "abuse-stray-end-tags",
        *(name for name in urlnames if name.startswith("abuse-nest-")),
    ]
    # 999 parameters in under gunicorn's 4,094-byte request line (longer lines are a 414).
    junk = "&".join(["j=1"] * 999)
    distinct = "&".join(f"junk{number}=x" for number in range(999))
    plan: list[tuple[str, str]] = [
        ("list", "/"),
        ("list", "/?page=2"),
        ("list", "/?format=json"),
        ("list", "/tags/"),
        ("list", "/categories/"),
        ("list", "/sites/"),
        ("list", f"/tags/{quote('大')}/"),
        *(("detail", detail(name)) for name in urlnames if not name.startswith("abuse-big-")),
        ("detail", detail("abuse-big-000")),
        ("detail", f"/notices/{normal}/"),
        *(
            ("highlight", f"{detail(name)}?highlight={word}")
            for name in big
            for word in ("zzzz", "a")
        ),
        ("highlight", f"{detail('abuse-big-000')}?highlight=a"),
        ("search", "/search/?q=a"),
        ("search", "/search/?q=aaaa"),
        ("search", "/search/?q=para"),
        ("search", "/search/?q=a&sort=newest"),
        ("search", "/search/?q=aaaa&sort=newest"),
        ("search", "/search/?q=para&sort=newest"),
        ("search", f"/search/?q={quote('通知')}"),
        ("feed", "/atom.xml"),
        ("feed", "/rss.xml"),
        ("feed", "/search/atom.xml?q=a"),
        ("feed", f"/tags/{quote('大')}/atom.xml"),
        *(
            ("feed m=random", f"/atom.xml?m={rng.getrandbits(64):x}")
            for _ in range(sizes.random_feeds)
        ),
        ("sitemap", "/sitemap.xml"),
        ("sitemap", "/sitemap-notices.xml"),
        ("sitemap", "/robots.txt"),
        ("sitemap", "/opensearch.xml"),
        ("archive", "/archive/"),
        ("archive", "/archive/2026/"),
        ("archive", "/archive/2026/12/"),
        ("out of range", "/?since=0001-01-01"),
        ("out of range", "/?until=9999-12-31"),
        ("out of range", "/?year=0001"),
        ("out of range", "/?page=99999999999999999999"),
        ("out of range", "/archive/1/"),
        ("out of range", "/archive/1/1/"),
        ("out of range", "/archive/9999/99/"),
        ("out of range", "/rss.xml?year=0001"),
        ("out of range", "/search/?q=a&since=0001-01-01"),
        ("out of range", f"/tags/{quote('大')}/?since=0001-01-01"),
    ]
    junk_pages = ["/", "/search/?q=a&", f"/notices/{normal}/", "/atom.xml", "/archive/2026/"]
    for page in junk_pages[: sizes.junk_pages]:
        joiner = "" if page.endswith("&") else "?"
        plan.append(("999 junk params", f"{page}{joiner}{junk}"))
    plan.append(("999 junk params", f"/?{distinct}"))  # 9 KB: gunicorn's 414
    return plan


def sitemap_sections(base: str, timeout: float) -> list[str]:
    try:
        with urllib.request.urlopen(base + "/sitemap.xml", timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return []
    return [re.sub(r"^https?://[^/]+", "", loc) for loc in re.findall(r"<loc>([^<]+)</loc>", text)]


def wait_until_up(base: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if fetch(base, "/robots.txt", 5)[0] == 200:
            return True
        time.sleep(0.2)
    return False


# --- Report ------------------------------------------------------------------------------------


def megabytes(value: int) -> str:
    return f"{value / 1024 / 1024:,.1f} MB"


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_imports(baseline: ImportRun, runs: list[ImportRun]) -> None:
    print(
        f"\n## Imports (one child process each; baseline = empty folder: "
        f"{baseline.seconds:.2f} s, CPU {baseline.cpu:.2f} s, {megabytes(baseline.peak_rss)})"
    )
    print(
        f"target: any file ≤ {TARGET_IMPORT_SECONDS:.0f} s (the command's own time, `in N s`; "
        f"wall and wall minus the baseline beside it), ≤ {megabytes(TARGET_RSS)} peak RSS\n"
    )
    header = (
        f"| {'file':<24} | {'size':>9} | {'own s':>7} | {'wall s':>7} | {'net s':>7} "
        f"| {'CPU s':>6} | {'peak RSS':>10} |"
    )
    print(header + " exit | target | import says")
    print(
        "|"
        + "-" * 26
        + "|"
        + "-" * 10
        + ":|"
        + "-" * 8
        + ":|"
        + "-" * 8
        + ":|"
        + "-" * 8
        + ":|"
        + "-" * 7
        + ":|"
        + "-" * 11
        + ":|-----:|--------|-------------"
    )
    for run in runs:
        net = max(run.seconds - baseline.seconds, 0)
        own_match = re.search(r" in ([\d.]+) s\b", run.output)
        own = float(own_match[1]) if own_match else net
        per_file = run.name.startswith("abuse-")
        ok = run.status == 0 and run.peak_rss <= TARGET_RSS
        ok = ok and (not per_file or own <= TARGET_IMPORT_SECONDS)
        lines = [line.strip() for line in run.output.splitlines() if line.strip()]
        said = [
            line
            for line in lines
            if "warning" in line.lower() or "limit" in line.lower() or "error" in line.lower()
        ] or lines[-1:]
        note = " / ".join(said)[:150]
        print(
            f"| {run.name:<24} | {run.size / 1024:>6,.0f} KB | {own:>7.2f} | {run.seconds:>7.2f} "
            f"| {net:>7.2f} | {run.cpu:>6.2f} | {megabytes(run.peak_rss):>10} | {run.status:>4} "
            f"| {mark(ok):<6} "
            f"| {note}"
        )


def print_requests(results: list[Result], sampler: MemorySampler, workers: int) -> None:
    kinds: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        kinds[result.kind].append(result)
    print(f"\n## Requests (one at a time; gunicorn {workers} workers)")
    print(
        f"targets: slowest < {TARGET_SECONDS:.0f} s, largest < {megabytes(TARGET_BYTES)}, "
        f"worker RSS < {megabytes(TARGET_RSS)}; status 0 = connection closed or timed out\n"
    )
    print(
        f"| {'page type':<16} | {'n':>4} | {'statuses':<22} | {'slowest s':>9} | "
        f"{'max CPU s':>9} | {'largest':>12} | {'worker RSS':>10} | targets"
    )
    print(
        "|"
        + "-" * 18
        + "|"
        + "-" * 5
        + ":|"
        + "-" * 24
        + "|"
        + "-" * 10
        + ":|"
        + "-" * 10
        + ":|"
        + "-" * 13
        + ":|"
        + "-" * 11
        + ":|--------"
    )
    for kind, group in kinds.items():
        statuses = ", ".join(
            f"{code}×{n}" for code, n in sorted(Counter(r.status for r in group).items())
        )  # noqa: E501
        slowest = max(r.seconds for r in group)
        largest = max(r.size for r in group)
        rss = sampler.peak_by_kind.get(kind, 0)
        misses = [
            name
            for name, ok in (
                ("time", slowest < TARGET_SECONDS),
                ("size", largest < TARGET_BYTES),
                ("RSS", rss < TARGET_RSS),
            )
            if not ok
        ]
        verdict = "ok" if not misses else "MISSED " + ", ".join(misses)
        print(
            f"| {kind:<16} | {len(group):>4} | {statuses:<22} | {slowest:>9.2f} | "
            f"{max(r.cpu for r in group):>9.2f} | {largest:>12,} | {megabytes(rss):>10} | {verdict}"
        )
    everything = results
    slowest = max(everything, key=lambda r: r.seconds)
    largest = max(everything, key=lambda r: r.size)
    peak_hwm = max(sampler.hwm_by_pid.values(), default=0)
    errors = [r for r in everything if r.status >= 500 or r.status == 0]
    most_cpu = max(everything, key=lambda r: r.cpu)
    print(
        f"\nmost CPU: {most_cpu.cpu:.2f} s {shorten(most_cpu.path)} (wall {most_cpu.seconds:.2f} s;"
        " CPU is what a request costs on an idle machine)"
    )
    print(
        f"slowest request: {slowest.seconds:.2f} s {shorten(slowest.path)} "
        f"(target < {TARGET_SECONDS:.0f} s: {mark(slowest.seconds < TARGET_SECONDS)})"
    )
    print(
        f"largest response: {largest.size:,} bytes {shorten(largest.path)} "
        f"(target < {TARGET_BYTES:,}: {mark(largest.size < TARGET_BYTES)})"
    )
    print(
        f"peak worker RSS (VmHWM over {len(sampler.hwm_by_pid)} worker processes seen, "
        f"{max(len(sampler.hwm_by_pid) - workers, 0)} replaced): {megabytes(peak_hwm)} "
        f"(target < {megabytes(TARGET_RSS)}: {mark(peak_hwm < TARGET_RSS)})"
    )
    if errors:
        print(f"5xx or closed: {len(errors)}")
        for result in errors[:12]:
            print(f"  {result.status} {result.seconds:.2f} s {shorten(result.path)}")


def print_slowest_urls(results: list[Result], count: int) -> None:
    print(f"\n## The {count} slowest and the {count} largest")
    for result in sorted(results, key=lambda r: -r.seconds)[:count]:
        print(
            f"  {result.seconds:>7.2f} s (CPU {result.cpu:.2f} s) {result.status:>3} "
            f"{result.size:>12,} B  "
            f"{shorten(result.path)}"
        )
    print()
    for result in sorted(results, key=lambda r: -r.size)[:count]:
        print(
            f"  {result.size:>12,} B {result.status:>3} {result.seconds:>7.2f} s  "
            f"{shorten(result.path)}"
        )


def shorten(path: str, width: int = 70) -> str:
    return path if len(path) <= width else f"{path[: width - 20]}…({len(path):,} chars)"


# --- Main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller archive: under a minute")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--show-urls", type=int, default=8, help="list the N slowest/largest")
    args = parser.parse_args()
    sizes = Sizes.of(args.quick)
    # A request a worker cannot finish is killed by gunicorn (status 0 here), not waited for.
    request_timeout = 12.0 if args.quick else 40.0
    gunicorn_timeout = 10 if args.quick else 30
    import_timeout = 60.0 if args.quick else 300.0
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="nb-abuse-") as folder:
        tmp = Path(folder)
        database = Database(tmp, args.database_url)
        env = dict(os.environ)
        env.pop("REDIS_URL", None)  # a scratch database must not share a cache with a site
        env.update(
            DATABASE_URL=database.url,
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            SECRET_KEY="abuse-bench-only-" + "x" * 50,
            ALLOWED_HOSTS="127.0.0.1",
            CACHE_KEY_PREFIX=f"nb-abuse-{os.getpid()}",
            STATIC_ROOT=str(tmp / "static"),
            PYTHONPATH=str(BASE_DIR),
        )
        hostile, bulk = write_archive(tmp, sizes)
        print(
            f"archive written in {time.monotonic() - started:.1f} s: {len(hostile)} hostile "
            f"files, {sizes.big_notices} notices of {sizes.big_bytes // 1000} KB, "
            f"{sizes.normal} generated; database {database.label}"
            + (" (--quick)" if args.quick else "")
            + f"; {load_average()}"
        )
        database.create()
        try:
            manage = [sys.executable, str(BASE_DIR / "manage.py")]
            for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
                _, _, status, output, _ = run_child(manage + command, env, 300)
                if status:
                    print(output)
                    raise SystemExit(f"{command[0]} failed")
            empty = tmp / "empty"
            empty.mkdir()
            baseline = import_folder("(empty folder)", empty, env, import_timeout)
            runs = [
                import_folder(name, path, env, import_timeout) for name, path in hostile.items()
            ]
            runs.append(import_folder("generated + big notices", bulk, env, import_timeout))
            print_imports(baseline, runs)
            urlnames, normal = stored_urlnames(manage, env)
            serve_and_measure(args, sizes, env, urlnames, normal, request_timeout, gunicorn_timeout)
        finally:
            database.drop()
    print(f"\ntotal {time.monotonic() - started:.0f} s; {load_average()}")
    return 0


def load_average() -> str:
    # Every figure here is wall time: other work on the machine inflates it.
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} CPUs"


def stored_urlnames(manage: list[str], env: dict[str, str]) -> tuple[dict[str, str], str]:
    """Source file stem -> urlname as stored (hygiene may change the bidi one); a normal one."""
    code = (
        "import json; from notices.models import Notice; "
        "rows = list(Notice.objects.values_list('source_path', 'urlname')); "
        "print(json.dumps(rows))"
    )
    _, _, status, output, _ = run_child([*manage, "shell", "-c", code], env, 120)
    rows = json.loads(output.strip().splitlines()[-1]) if status == 0 else []
    urlnames = {}
    normal = ""
    for source_path, urlname in rows:
        stem = Path(source_path).stem
        if stem.startswith("abuse-"):
            urlnames[stem] = urlname
        elif not normal:
            normal = urlname
    return dict(sorted(urlnames.items())), normal


def serve_and_measure(
    args,
    sizes: Sizes,
    env: dict[str, str],
    urlnames: dict[str, str],
    normal: str,
    request_timeout: float,
    gunicorn_timeout: int,
) -> None:
    with gunicorn({**env, "GUNICORN_TIMEOUT": str(gunicorn_timeout)}, args.workers) as served:
        base = served.url
        sampler = MemorySampler(served.pid)
        if not wait_until_up(base):
            print("gunicorn did not start")
            return
        sampler.start()
        plan = plan_requests(sizes, urlnames, normal)
        sections = [
            s for s in sitemap_sections(base, request_timeout) if s != "/sitemap-notices.xml"
        ]
        plan += [("sitemap", section) for section in sections[:5]]
        plan.sort(key=lambda item: ORDER.index(item[0]))
        results = []
        for kind, path in plan:
            sampler.kind = kind
            cpu_before = workers_cpu(served.pid)
            sent = time.monotonic()
            status, size = fetch(base, path, request_timeout)
            elapsed = time.monotonic() - sent
            cpu = max(workers_cpu(served.pid) - cpu_before, 0.0)
            results.append(Result(kind, path, status, elapsed, size, cpu))
            sampler.sample()
        sampler.stopping.set()
        sampler.join()
        print_requests(results, sampler, args.workers)
        print_slowest_urls(results, args.show_urls)
        print_junk_growth(results)
        under_load(base, results, args.workers, 3.0 if args.quick else 8.0, request_timeout)
        print_text_checks(base, urlnames, request_timeout)


def under_load(
    base: str, results: list[Result], workers: int, seconds: float, timeout: float
) -> None:
    """Finding 4's "four such requests hold all four workers": the slowest pages requested by
    twice as many clients as workers, and meanwhile the front page, one request at a time."""
    slowest = [r.path for r in sorted(results, key=lambda r: -r.seconds) if r.status][:3]
    stop_at = time.monotonic() + seconds
    hammered: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        while time.monotonic() < stop_at:
            sent = time.monotonic()
            fetch(base, slowest[number % len(slowest)], timeout)
            with lock:
                hammered.append(time.monotonic() - sent)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(workers * 2)]
    for thread in threads:
        thread.start()
    front: list[tuple[int, float]] = []
    while time.monotonic() < stop_at:
        sent = time.monotonic()
        status, _ = fetch(base, "/", timeout)
        front.append((status, time.monotonic() - sent))
    for thread in threads:
        thread.join()
    print(f"\n## Under load: {workers * 2} clients on the 3 slowest pages for {seconds:.0f} s")
    for path in slowest:
        print(f"  {shorten(path)}")
    if hammered:
        print(f"  those: {len(hammered)} requests, slowest {max(hammered):.2f} s")
    statuses = Counter(status for status, _ in front)
    worst = max((latency for _, latency in front), default=0.0)
    print(
        f"  meanwhile /: {len(front)} requests, statuses {dict(statuses)}, slowest {worst:.2f} s "
        f"(target < {TARGET_SECONDS:.0f} s: {mark(worst < TARGET_SECONDS)})"
    )


def print_junk_growth(results: list[Result]) -> None:
    """Unknown parameters copied into links make a page grow: the same page with and without."""
    sizes = {result.path: result.size for result in results if result.kind != "999 junk params"}
    print("\n## 999 junk parameters: the page with them against the page without")
    for result in results:
        if result.kind != "999 junk params":
            continue
        page = result.path.split("j=1&", 1)[0].split("junk0=", 1)[0].rstrip("?&")
        page = page if page in sizes else page + "/" if page + "/" in sizes else page
        plain = sizes.get(page)
        growth = f"{result.size - plain:+,} bytes" if plain is not None else "(no plain request)"
        if result.status == 414:  # 999 distinct names: 9 KB, over gunicorn's request line
            growth = "refused by gunicorn: request line over 4,094 bytes"
        print(
            f"  {result.status} {shorten(page, 50):<50} {plain or 0:>9,} -> {result.size:>9,} "
            f"{growth}"
        )


INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def page_text(base: str, path: str, timeout: float) -> tuple[int, str]:
    request = urllib.request.Request(base + path, headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (OSError, ValueError):
        return 0, ""


def print_text_checks(base: str, urlnames: dict[str, str], timeout: float) -> None:
    """Findings 10: invisible characters where a reader sees names, and borrowed classes."""
    print("\n## Text hygiene (finding 10): invisible/bidi characters and `class` in bodies")
    bidi = urlnames.get("abuse-bidi", "")
    print(f"  stored urlname of abuse-bidi: {bidi!r} ({len(INVISIBLE.findall(bidi))} invisible)")
    status, page = page_text(base, f"/notices/{quote(bidi)}/", timeout)
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.DOTALL)
    for label, found in (("<title>", title), ("<h1>", heading)):
        text = found[1] if found else ""
        print(f"  detail {status}: invisible characters in {label}: {len(INVISIBLE.findall(text))}")
    print(
        f"  detail {status}: invisible characters in the whole page: {len(INVISIBLE.findall(page))}"
    )
    # Where they are: the text just before each, from its nearest tag.
    places = Counter(
        re.sub(r"\s+", " ", page[max(hit.start() - 60, 0) : hit.start()]).rpartition("<")[2][:50]
        for hit in INVISIBLE.finditer(page)
    )
    for place, count in places.most_common(4):
        print(f"    ×{count} after <{place}")
    status, listing = page_text(base, "/?format=json", timeout)
    print(f"  /?format=json {status}: invisible characters: {len(INVISIBLE.findall(listing))}")
    status, tags = page_text(base, "/tags/", timeout)
    print(f"  /tags/ {status}: invisible characters: {len(INVISIBLE.findall(tags))}")
    status, page = page_text(
        base, f"/notices/{quote(urlnames.get('abuse-code-class', ''))}/", timeout
    )
    body = page.partition("notice-body")[2]
    classes = re.findall(r"<code[^>]*class=\"([^\"]*)\"", body)
    print(f"  abuse-code-class detail {status}: <code class> values kept: {classes or 'none'}")


ORDER = [
    "list",
    "detail",
    "highlight",
    "search",
    "feed",
    "feed m=random",
    "sitemap",
    "archive",
    "out of range",
    "999 junk params",
]


if __name__ == "__main__":
    raise SystemExit(main())
