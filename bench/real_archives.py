"""Real Hexo/Jekyll archives through the whole app: import, read, follow links, export (issue 9).

    .venv/bin/python bench/real_archives.py DIR [DIR ...] [--site-host [FOLDER=]HOST] [--show N]
    .venv/bin/python bench/real_archives.py ../shared/corpus/*/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/real_archives.py DIR

Each folder is imported into its own scratch database, in a child process: a SQLite file in a
temporary folder, or, with DATABASE_URL pointing at PostgreSQL, a database named
$REAL_ARCHIVES_DATABASE (default nb_real_archives) on that server, created and dropped again.
Per folder it prints: files found, imported and rejected (with each reason), warnings by kind;
where dates came from (Notice.date_source); every detail page fetched with the test client, and
those showing raw `{%`, `<script`, `<style` or `<iframe` as visible text outside code (or the
content of a <script>/<style> without its tags), or holding real embeds; every internal link in
the bodies followed (404s split into posts the archive holds and things it does not); the export
compared byte for byte with the files; front-matter values that read back differently (PyYAML
safe_load, YAML 1.1, and ruamel.yaml safe, YAML 1.2); an admin title edit exported and diffed;
the time of each step. Then one table across the folders.

A link is internal when it starts with `/`, is relative, or points at the archive's own site:
the host whose dated links are permalinks of its posts (or --site-host). Links under /images/,
/img/, /upload(s)/, /assets/ and the like, or naming a file (.png, .pdf, .zip…), are assets.
A benchmark prints figures; it asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))  # run as a script from anywhere: the project is importable
sys.path.insert(0, str(BASE_DIR / "bench"))

from roundtrip import postgres_admin  # noqa: E402 - after the path it is found on

RAW_MARKERS = ("{%", "<script", "<style", "<iframe")
EMBED_ELEMENTS = ("iframe", "script", "style", "embed", "object", "video", "audio")
ASSET_FOLDERS = frozenset(
    {"images", "image", "img", "imgs", "upload", "uploads", "assets", "files", "static", "media"}
)
DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
# Files, not pages: a link to one is an asset link.
ASSET_SUFFIX = re.compile(
    r"\.(png|jpe?g|gif|webp|svg|bmp|ico|tiff?|pdf|zip|t?gz|bz2|xz|7z|rar|tar|mp[34]|m4a|webm"
    r"|og[gv]|wav|flac|mov|avi|pp[ts]x?|docx?|xlsx?|od[pt]|txt|csv|json|js|css|ipk|apk|exe|msi"
    r"|dmg|iso|img|deb|rpm|torrent|woff2?|ttf)$",
    re.IGNORECASE,
)
SKIPPED_SCHEMES = ("mailto:", "javascript:", "data:", "tel:", "#")
# Hexo's and Jekyll's `YYYY-MM-DD-` file name prefix (Jekyll also writes unpadded months).
DATE_PREFIX = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}-")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
NUMBERS = re.compile(r"\d+")


# --- Parent: one child process and one scratch database per folder ---------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    parser.add_argument(
        "--site-host",
        action="append",
        default=[],
        metavar="[FOLDER=]HOST",
        help="the archive's own site host (repeatable; FOLDER= limits it to one folder)",
    )
    parser.add_argument("--show", type=int, default=15, help="list at most N items per finding")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = run_folder(args.folders[0].resolve(), args.site_host, args.show)
        args.result.write_text(json.dumps(result, ensure_ascii=False, default=str))
        return 0

    results = []
    for folder in args.folders:
        results.append(run_in_child(folder, args.site_host, args.show))
    print_summary(results)
    return 0


def run_in_child(folder: Path, site_hosts: list[str], show: int) -> dict[str, Any]:
    name = folder.resolve().name
    if not folder.is_dir():
        print(f"\n### {name}: not a folder ({folder})")
        return {"folder": name, "failed": "not a folder"}
    with tempfile.TemporaryDirectory(prefix="nb-real-archives-") as scratch:
        tmp = Path(scratch)
        given = os.environ.get("DATABASE_URL", "")
        postgres = given.startswith(("postgres://", "postgresql://"))
        database = os.environ.get("REAL_ARCHIVES_DATABASE", "nb_real_archives")
        env = dict(os.environ)
        env.pop("REDIS_URL", None)  # a scratch database must not share a cache with a site
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            # Production settings: what a reader gets (no debug pages, manifest static files).
            DEBUG="0",
            SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-only-not-a-secret",
            ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
            STATIC_ROOT=str(tmp / "static"),
            CACHE_KEY_PREFIX=f"nb-real-{os.getpid()}",
            PYTHONPATH=str(BASE_DIR),
        )
        if postgres:
            env["DATABASE_URL"] = f"{given.rpartition('/')[0]}/{database}"
            postgres_admin(given, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            postgres_admin(
                given, f"CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8'"
            )
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp / 'archive.sqlite3'}"
        result_file = tmp / "result.json"
        command = [sys.executable, __file__, "--child", str(folder), "--result", str(result_file)]
        command += [f"--site-host={host}" for host in site_hosts] + [f"--show={show}"]
        try:
            status = subprocess.run(command, env=env, cwd=BASE_DIR).returncode
        finally:
            if postgres:
                postgres_admin(given, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if status or not result_file.is_file():
            print(f"\n### {name}: the child process failed with status {status}")
            return {"folder": name, "failed": f"child exited {status}"}
        return json.loads(result_file.read_text())


# --- Reading the original files ourselves ------------------------------------------------------


def decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on \\n only (str.splitlines also splits on U+2028)."""
    return re.split(r"(?<=\n)", text) if text else []


def front_matter_text(data: bytes) -> tuple[str | None, int]:
    """(the YAML between the `---` fences, or None; how many lines the front matter spans)."""
    lines = split_lines(decode(data))
    if not lines or lines[0].rstrip() != "---":
        return None, 0
    for index, line in enumerate(lines[1:], 1):
        if line.rstrip() in ("---", "..."):
            return "".join(lines[1:index]).replace("\r\n", "\n"), index + 1
    return None, 0


def yaml_loaders() -> dict[str, Callable[[str], Any]]:
    """YAML 1.1 (PyYAML, what Hexo's js-yaml resembles) and 1.2 (ruamel.yaml), if installed."""
    import yaml

    loaders: dict[str, Callable[[str], Any]] = {"1.1": yaml.safe_load}
    try:
        from ruamel.yaml import YAML
    except ImportError:
        return loaders

    def load_12(text: str) -> Any:
        # A fresh loader each time: one that raised mid-document keeps its state. Duplicate
        # keys are reported apart (strict_12); here the first one wins, as ruamel keeps it.
        loader = YAML(typ="safe")
        loader.allow_duplicate_keys = True
        return loader.load(text)

    loaders["1.2"] = load_12
    return loaders


def has_duplicate_keys(text: str) -> bool:
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.constructor import DuplicateKeyError
    except ImportError:
        return False
    try:
        YAML(typ="safe").load(text)
    except DuplicateKeyError:
        return True
    except Exception:  # noqa: BLE001 - any other YAML error is counted elsewhere
        return False
    return False


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1 != True != "1", date != datetime)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


Day = tuple[int, int, int]


def names_of_posts(
    files: dict[str, bytes], front: dict[str, dict]
) -> tuple[dict[str, set[Day]], set[str]]:
    """Names a link may call a post by (file stem, stem without its date, front-matter slug,
    last part of `permalink:`), lower-cased, each with the post's days (file name and `date:`);
    and the permalinks as paths."""
    names: dict[str, set[Day]] = defaultdict(set)
    permalinks: set[str] = set()
    for source_path in files:
        stem = PurePosixPath(source_path).stem
        matter = front.get(source_path) or {}
        days = post_days(stem, matter.get("date"))
        called = {stem, DATE_PREFIX.sub("", stem)}
        if isinstance(matter.get("slug"), str | int):
            called.add(str(matter["slug"]))
        if isinstance(matter.get("permalink"), str):
            permalinks.add(normalise_path(matter["permalink"]))
            called.add(last_segment(matter["permalink"]))
        for name in called:
            if name:
                names[name.lower()] |= days
    return names, permalinks


def post_days(stem: str, date: Any) -> set[Day]:
    days = set()
    prefix = DATE_PREFIX.match(stem)
    if prefix:
        year, month, day = (int(part) for part in prefix.group().rstrip("-").split("-"))
        days.add((year, month, day))
    if isinstance(date, dt.date):
        days.add((date.year, date.month, date.day))
    elif isinstance(date, str):
        found = re.match(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})", date)
        if found:
            days.add((int(found[1]), int(found[2]), int(found[3])))
    return days


def dated_like(path: str, days: set[Day]) -> bool:
    """Whether the path holds a year (then maybe month and day) that is one of the post's days:
    /2018/11/10/docker-lnmp.html for the post of 2018-11-10, not a repost's original."""
    parts = [part for part in unquote(urlsplit(path).path).split("/") if part]
    for index, part in enumerate(parts):
        if re.fullmatch(r"\d{4}", part):
            numbers = [int(part)]
            for following in parts[index + 1 : index + 3]:
                if not re.fullmatch(r"\d{1,2}", following):
                    break
                numbers.append(int(following))
            return any(list(day[: len(numbers)]) == numbers for day in days)
    return False


def normalise_path(path: str) -> str:
    path = unquote(urlsplit(path).path).strip("/")
    for ending in ("index.html", "index.htm"):
        if path.endswith(ending):
            path = path[: -len(ending)].rstrip("/")
    return path.lower()


def last_segment(path: str) -> str:
    parts = [part for part in normalise_path(path).split("/") if part]
    if not parts:
        return ""
    last = parts[-1]
    for suffix in (".html", ".htm", ".md"):
        if last.endswith(suffix):
            last = last[: -len(suffix)]
    return last


# --- The detail page, parsed -------------------------------------------------------------------


class ArticleScanner(HTMLParser):
    """The <article> of a detail page: raw markup shown as text, real embeds, body links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.article_depth = 0
        self.div_depth = 0
        self.body_at: int | None = None  # div depth of <div class="notice-body">
        self.code_depth = 0
        self.hidden_depth = 0  # inside a real <script>/<style>: not visible text
        self.raw_text: list[str] = []
        self.visible: list[str] = []  # text a reader sees (outside code, script and style)
        self.embeds: Counter[str] = Counter()
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "article":
            self.article_depth += 1
        if not self.article_depth:
            return
        attributes = dict(attrs)
        if tag == "div":
            self.div_depth += 1
            classes = (attributes.get("class") or "").split()
            if self.body_at is None and "notice-body" in classes:
                self.body_at = self.div_depth
        elif tag in ("code", "pre"):
            self.code_depth += 1
        if tag in EMBED_ELEMENTS:
            self.embeds[tag] += 1
            if tag in ("script", "style"):
                self.hidden_depth += 1
        if self.body_at is not None:
            if tag == "a" and attributes.get("href"):
                self.links.append(attributes["href"] or "")
            elif tag in ("img", "source") and attributes.get("src"):
                self.images.append(attributes["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if not self.article_depth:
            return
        if tag == "article":
            self.article_depth -= 1
        elif tag == "div":
            if self.body_at == self.div_depth:
                self.body_at = None
            self.div_depth -= 1
        elif tag in ("code", "pre"):
            self.code_depth = max(0, self.code_depth - 1)
        elif tag in ("script", "style"):
            self.hidden_depth = max(0, self.hidden_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.article_depth and not self.code_depth and not self.hidden_depth:
            self.visible.append(data)
            lowered = data.lower()
            if any(marker in lowered for marker in RAW_MARKERS):
                self.raw_text.append(data)


FENCED_CODE = re.compile(r"^( {0,3})(`{3,}|~{3,}).*?^\1\2", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]+`")
SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)


def leaked_content(body: str, visible: str) -> list[str]:
    """The start of each <script>/<style> content of the body (outside code) that the page
    shows as text, even with its tags gone: CSS and jQuery a reader sees and search finds."""
    prose = INLINE_CODE.sub("", FENCED_CODE.sub("", body))
    seen = " ".join(visible.split())
    leaked = []
    for _, content in SCRIPT_OR_STYLE.findall(prose):
        words = " ".join(content.split())
        if len(words) >= 12 and words[:40] in seen:
            leaked.append(words[:40])
    return leaked


def raw_snippets(texts: list[str]) -> list[str]:
    snippets = []
    for text in texts:
        lowered = text.lower()
        for marker in RAW_MARKERS:
            at = lowered.find(marker)
            if at >= 0:
                snippets.append(" ".join(text[at : at + 50].split()))
    return snippets


# --- Child: one folder ------------------------------------------------------------------------


@dataclass
class FolderRun:
    root: Path
    show: int
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def step(self, label: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one step, timed; a step that raises is reported and the run goes on."""
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a bench reports a broken step, it does not stop
            print(f"  !! step {label!r} failed:")
            print("     " + traceback.format_exc().strip().replace("\n", "\n     "))
            self.figures.setdefault("failed_steps", []).append(label)
            return None
        finally:
            self.timings[label] = time.perf_counter() - started


def run_folder(root: Path, site_host_options: list[str], show: int) -> dict[str, Any]:
    import logging

    import django

    django.setup()
    from django.core.management import call_command

    # Every 404 and 500 is counted and printed here; Django's own log lines would drown them.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    logging.getLogger("django.security").setLevel(logging.CRITICAL)

    run = FolderRun(root, show)
    print(f"\n### {root.name}  ({root})")
    run.step("migrate", call_command, "migrate", verbosity=0, interactive=False)
    run.step("collectstatic", call_command, "collectstatic", verbosity=0, interactive=False)

    files: dict[str, bytes] = run.step("read files", read_files, root) or {}
    run.figures["files"] = len(files)
    front = {path: load_front_matter(data) for path, data in files.items()}
    run.step("import", import_folder, run, root)
    run.step("dates", report_dates, run, front)
    run.step("attachments", report_attachments, run)
    run.step("groups", report_groups, run)
    pages = run.step("detail pages", fetch_pages, run) or {}
    hosts = site_hosts_for(root.name, site_host_options)
    run.step("internal links", follow_links, run, pages, files, front, hosts)
    with tempfile.TemporaryDirectory(prefix="nb-real-export-") as scratch:
        exported = Path(scratch) / "export"
        run.step("export", export_all, run, exported)
        run.step("compare bytes", compare_bytes, run, files, exported)
        run.step("compare values", compare_values, run, files, exported)
        run.step("title edit", title_edit, run, files, Path(scratch) / "edited")
    print("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in run.timings.items()))
    run.figures["folder"] = root.name
    run.figures["seconds"] = sum(run.timings.values())
    return run.figures


def read_files(root: Path) -> dict[str, bytes]:
    """The archive's documents by path, found as the importer finds them (but without it, so
    the figures stand even when the importer fails)."""
    files = {}
    for folder, subfolders, names in os.walk(root, followlinks=False):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix.lower() in DOCUMENT_SUFFIXES:
                path = Path(folder, name)
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def load_front_matter(data: bytes) -> dict[str, Any]:
    import yaml

    text, _ = front_matter_text(data)
    try:
        loaded = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def import_folder(run: FolderRun, root: Path) -> None:
    from notices.importing import import_archive

    logged: dict[str, list[str]] = defaultdict(list)
    report = import_archive([root], log=lambda kind, message: logged[kind].append(message))
    imported = report.created + report.updated
    print(
        f"  files {report.files} (as the importer counts them): imported {imported}, "
        f"rejected {report.failed}, "
        f"warnings {len(logged['warning'])} ({report.elapsed:.2f} s in import_archive)"
    )
    for message in logged["error"]:
        print(f"    rejected  {message}")
    kinds = Counter(warning_kind(message) for message in logged["warning"])
    examples: dict[str, str] = {}
    for message in logged["warning"]:
        examples.setdefault(warning_kind(message), message)
    for kind, count in kinds.most_common():
        print(f"    warning ×{count:<4} {kind}")
        print(f"               e.g. {examples[kind][:150]}")
    for kind in ("conflict",):
        for message in logged[kind][: run.show]:
            print(f"    {kind}  {message}")
    run.figures.update(
        imported=imported,
        rejected=report.failed,
        warnings=len(logged["warning"]),
        warning_kinds=dict(kinds),
        rejections=logged["error"],
    )


def warning_kind(message: str) -> str:
    """A warning without its file, line and quoted values: what groups like warnings."""
    text = re.sub(r"^.*?\.(md|markdown|txt)(:\d+)?:\s*", "", message, flags=re.IGNORECASE)
    text = re.sub(r"^line \d+:\s*", "", text)
    text = NUMBERS.sub("N", QUOTED.sub("…", text))
    return text[:100]


def report_dates(run: FolderRun, front: dict[str, dict]) -> None:
    from notices.models import Notice

    sources = Counter(
        getattr(notice, "date_source", None) or "(no date_source field)"
        for notice in Notice.objects.only("id")
    )
    undated = sum(1 for matter in front.values() if matter.get("date") in (None, ""))
    counts = {key: sources.get(key, 0) for key in ("front_matter", "file_name", "file_mtime")}
    others = {key: n for key, n in sources.items() if key not in counts}
    line = ", ".join(f"{key} {n}" for key, n in {**counts, **others}.items())
    print(f"  dates from: {line}   (files with no date: in front matter: {undated})")
    run.figures.update(dates=counts, dates_other=others, files_without_date=undated)


def report_attachments(run: FolderRun) -> None:
    """How many notices list attachments (notices/attachments.py, issue 15), and of what kind."""
    from notices.models import Notice

    kinds: Counter[str] = Counter()
    hosts: Counter[str] = Counter()
    rows = Notice.objects.filter(has_attachments=True).values_list("attachments", flat=True)
    with_attachments = 0
    for attachments in rows:
        with_attachments += 1
        kinds.update(item["kind"] for item in attachments)
        hosts.update(item["host"] or "(relative)" for item in attachments)
    run.figures["with_attachments"] = with_attachments
    run.figures["attachments"] = sum(kinds.values())
    run.figures["attachment_kinds"] = dict(kinds)
    by_kind = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()) or "none"
    print(f"  attachments: {with_attachments} notices list {sum(kinds.values())} ({by_kind})")
    if hosts:
        top = ", ".join(f"{host} {count}" for host, count in hosts.most_common(5))
        print(f"    hosts: {top}")


def report_groups(run: FolderRun) -> None:
    """The groups of near-duplicates the import formed (notices/grouping.py, issue 15), each
    with its members' dates and titles, to check by hand."""
    from notices.models import Notice

    members: defaultdict[int, list[tuple[Any, str]]] = defaultdict(list)
    rows = Notice.objects.filter(group__isnull=False).order_by("date", "id")
    for group, date, title in rows.values_list("group", "date", "title"):
        members[group].append((date, title))
    run.figures["groups"] = len(members)
    run.figures["grouped"] = sum(map(len, members.values()))
    print(f"  groups: {len(members)} of {run.figures['grouped']} notices")
    for group in list(members)[: max(run.show, 20)]:
        print("    - " + " | ".join(f"{d:%Y-%m-%d} {t[:40]}" for d, t in members[group]))


def fetch_pages(run: FolderRun) -> dict[str, dict[str, Any]]:
    """Every notice's detail page: status, raw markup shown as text, embeds, body links."""
    from django.conf import settings
    from django.test import Client

    from notices.models import Notice

    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="zh-hans")
    pages: dict[str, dict[str, Any]] = {}
    statuses: Counter[int] = Counter()
    raw_pages: list[tuple[str, list[str]]] = []
    leak_pages: list[tuple[str, list[str]]] = []
    embed_pages: list[tuple[str, dict[str, int]]] = []
    embeds_total: Counter[str] = Counter()
    errors: list[str] = []
    for notice in Notice.objects.order_by("source_path", "id").iterator(chunk_size=500):
        url = notice.get_absolute_url()
        response = client.get(url)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            errors.append(f"{url} ({notice.source_path}): {exception_summary(response)}")
            continue
        if response.status_code != 200:
            errors.append(f"{url} ({notice.source_path}): status {response.status_code}")
            continue
        scanner = ArticleScanner()
        scanner.feed(response.content.decode("utf-8", errors="replace"))
        scanner.close()
        if scanner.raw_text:
            raw_pages.append((notice.source_path, raw_snippets(scanner.raw_text)))
        leaked = leaked_content(notice.body, "".join(scanner.visible))
        if leaked:
            leak_pages.append((notice.source_path, leaked))
        if scanner.embeds:
            embed_pages.append((notice.source_path, dict(scanner.embeds)))
            embeds_total.update(scanner.embeds)
        pages[url] = {"source_path": notice.source_path, "links": scanner.links,
                      "images": scanner.images}  # fmt: skip
    fetched = sum(statuses.values())
    status_line = ", ".join(f"{code} ×{n}" for code, n in sorted(statuses.items()))
    print(f"  detail pages {fetched}: {status_line or 'none'}")
    for error in errors[: run.show]:
        print(f"    !! {error}")
    print(f"  pages showing raw {{% / <script / <style / <iframe as text: {len(raw_pages)}")
    for source_path, snippets in raw_pages[: run.show]:
        print(f"    {source_path}: " + " | ".join(repr(s) for s in snippets[:3]))
    print(f"  pages showing <script>/<style> content as text: {len(leak_pages)}")
    for source_path, snippets in leak_pages[: run.show]:
        print(f"    {source_path}: " + " | ".join(repr(s) for s in snippets[:2]))
    allowed = getattr(settings, "NOTICES_EMBED_HOSTS", None)
    elements = ", ".join(f"{tag} {embeds_total.get(tag, 0)}" for tag in EMBED_ELEMENTS)
    print(
        f"  real elements in articles: {elements} on {len(embed_pages)} pages "
        f"(NOTICES_EMBED_HOSTS = {allowed!r})"
    )
    for source_path, found in embed_pages[: run.show]:
        print(f"    {source_path}: {found}")
    run.figures.update(
        pages=fetched,
        pages_not_200=fetched - statuses.get(200, 0),
        pages_500=sum(n for code, n in statuses.items() if code >= 500),
        raw_pages=len(raw_pages),
        leak_pages=len(leak_pages),
        real_iframes=embeds_total.get("iframe", 0),
        real_scripts=embeds_total.get("script", 0),
        embed_pages=len(embed_pages),
    )
    return pages


def exception_summary(response: Any) -> str:
    info = getattr(response, "exc_info", None)
    if not info:
        return f"status {response.status_code}"
    kind, value, trace = info
    frames = traceback.extract_tb(trace)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{kind.__name__}: {' '.join(str(value).split())[:200]}{where}"


def site_hosts_for(folder: str, options: list[str]) -> set[str]:
    hosts = set()
    for option in options:
        name, _, host = option.rpartition("=")
        if not name or name == folder:
            hosts.add(host.lower())
    return hosts


def detect_site_hosts(
    links: Iterable[str], names: dict[str, set[Day]]
) -> dict[str, tuple[int, int]]:
    """Hosts by (links that look like a permalink of one of this archive's posts: its name and
    its date in the path, links with a year in the path). Both are needed: a link to
    github.com/someone/compio names a post called compio by chance, and a repost links to its
    original at the original's date."""
    hits: Counter[str] = Counter()
    dated: Counter[str] = Counter()
    for link in links:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        if not re.search(r"/\d{4}(/|$)", parts.path):
            continue
        host = parts.hostname.lower()
        dated[host] += 1
        days = names.get(last_segment(link))
        hits[host] += bool(days) and dated_like(link, days)
    return {host: (hits[host], dated[host]) for host in hits if hits[host]}


def own_hosts(candidates: dict[str, tuple[int, int]], folder: str) -> set[str]:
    """The archive's own site among the hosts where most dated links are permalinks of its
    posts: mirrors of an archive (no404more.github.io/Terminus/...) qualify too, so a host
    named like the folder wins (terminus2049.github.io for terminus2049/), else the host with
    the most such links. The others stay external links (on the old site they were too)."""
    qualified = {host: hits for host, (hits, dated) in candidates.items() if hits * 2 > dated}
    words = {word for word in re.split(r"[^a-z0-9]+", folder.lower()) if len(word) >= 4}
    named = {host for host in qualified if words & set(re.split(r"[^a-z0-9]+", host))}
    if named:
        return named
    return {max(qualified, key=qualified.__getitem__)} if qualified else set()


def is_asset(path: str) -> bool:
    parts = [part for part in unquote(urlsplit(path).path).split("/") if part]
    if not parts:
        return False
    return parts[0].lower() in ASSET_FOLDERS or bool(ASSET_SUFFIX.search(parts[-1]))


def follow_links(
    run: FolderRun,
    pages: dict[str, dict[str, Any]],
    files: dict[str, bytes],
    front: dict[str, dict],
    given_hosts: set[str],
) -> None:
    from django.test import Client

    names, permalinks = names_of_posts(files, front)
    all_links = [link for page in pages.values() for link in page["links"]]
    detected = detect_site_hosts(all_links, names)
    hosts = set(given_hosts) or own_hosts(detected, run.root.name)
    hosts |= {f"www.{h}" for h in hosts if not h.startswith("www.")}
    hosts |= {h.removeprefix("www.") for h in hosts}
    source = "--site-host" if given_hosts else "detected"
    ranked = sorted(detected.items(), key=lambda item: -item[1][0])[:6]
    found = ", ".join(f"{h} {hits}/{dated}" for h, (hits, dated) in ranked) or "none"
    print(
        f"  site host: {', '.join(sorted(hosts)) or 'none'} ({source}; permalinks of its posts "
        f"/ links with a year, by host: {found})"
    )
    elsewhere = sum(hits for host, (hits, _) in detected.items() if host not in hosts)
    if elsewhere:
        print(f"    {elsewhere} links name its posts at other hosts (mirrors?): not followed")

    # (target path, kind) for every internal link or image in the bodies.
    targets: list[tuple[str, str, str]] = []  # (path, "link"/"asset", page source path)
    external = relative = 0
    for page_url, page in pages.items():
        for kind, values in (("link", page["links"]), ("asset", page["images"])):
            for value in values:
                value = value.strip()
                if not value or value.lower().startswith(SKIPPED_SCHEMES):
                    continue
                parts = urlsplit(value)
                if parts.scheme or value.startswith("//"):
                    if (parts.hostname or "").lower() not in hosts:
                        external += 1
                        continue
                    path = parts.path or "/"
                    if parts.query:
                        path += "?" + parts.query
                elif value.startswith("/"):
                    path = value.split("#", 1)[0]
                else:
                    relative += 1  # resolved as a reader's browser would, against this page
                    path = urljoin(page_url, value).split("#", 1)[0]
                if kind == "link" and is_asset(path):
                    kind = "asset"
                targets.append((path, kind, page["source_path"]))

    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="zh-hans")
    answers: dict[str, tuple[int, int, str]] = {}  # path -> (status, redirects, error)
    for path, _, _ in targets:
        if path not in answers:
            answers[path] = fetch_following(client, path)

    def tally(kind: str) -> tuple[Counter[int], dict[str, list[str]], int]:
        statuses: Counter[int] = Counter()
        missing: dict[str, list[str]] = defaultdict(list)
        redirected = 0
        for path, target_kind, page_source in targets:
            if target_kind != kind:
                continue
            status, redirects, _ = answers[path]
            statuses[status] += 1
            redirected += bool(redirects)
            if status == 404:
                missing[path].append(page_source)
        return statuses, missing, redirected

    link_status, link_404, link_redirected = tally("link")
    asset_status, asset_404, _ = tally("asset")
    in_archive = {
        path: sources
        for path, sources in link_404.items()
        if last_segment(path) in names or normalise_path(path) in permalinks
    }
    not_in_archive = {path: s for path, s in link_404.items() if path not in in_archive}
    count_in = sum(len(s) for s in in_archive.values())
    count_out = sum(len(s) for s in not_in_archive.values())
    links = sum(link_status.values())
    other = {code: n for code, n in link_status.items() if code not in (200, 404)}
    print(
        f"  internal links {links} ({relative} relative, {external} external not followed): "
        f"200 ×{link_status.get(200, 0)} ({link_redirected} via a redirect), "
        f"404 ×{link_404 and sum(len(s) for s in link_404.values()) or 0} "
        f"(to posts in the archive {count_in}, to things it lacks {count_out}), other {other or 0}"
    )
    for label, group in (("post in archive", in_archive), ("not in archive", not_in_archive)):
        for path, sources in sorted(group.items())[: run.show]:
            print(f"    404 {label:<16} {path}  (×{len(sources)}, from {sources[0]})")
    errors = {path: a[2] for path, a in answers.items() if a[2]}
    for path, error in list(errors.items())[: run.show]:
        print(f"    !! {path}: {error}")
    assets = sum(asset_status.values())
    print(
        f"  asset links {assets}: "
        + (", ".join(f"{code} ×{n}" for code, n in sorted(asset_status.items())) or "none")
        + (f" ({len(asset_404)} distinct missing, e.g. {min(asset_404)})" if asset_404 else "")
    )
    run.figures.update(
        site_hosts=sorted(hosts),
        links=links,
        links_200=link_status.get(200, 0),
        links_404_in_archive=count_in,
        links_404_not_in_archive=count_out,
        links_other=sum(other.values()),
        assets=assets,
        assets_200=asset_status.get(200, 0),
        assets_404=asset_status.get(404, 0),
    )


def fetch_following(client: Any, path: str) -> tuple[int, int, str]:
    """(final status, redirects followed, error text) for one internal address."""
    try:
        response = client.get(path, follow=True)
    except Exception as exc:  # noqa: BLE001 - a redirect loop or a bad address is a finding
        return 0, 0, f"{type(exc).__name__}: {exc}"
    error = exception_summary(response) if response.status_code >= 500 else ""
    return response.status_code, len(getattr(response, "redirect_chain", [])), error


def export_all(run: FolderRun, out: Path) -> None:
    from notices.exporting import export_notices, select_notices

    written = export_notices(select_notices().iterator(chunk_size=1000), out)
    print(f"  exported {written} files")
    run.figures["exported"] = written


def compare_bytes(run: FolderRun, files: dict[str, bytes], exported: Path) -> None:
    identical = 0
    kinds: Counter[str] = Counter()
    differing: list[tuple[str, str]] = []
    missing = 0
    for source_path, original in files.items():
        target = exported / source_path
        if not target.is_file():
            missing += 1
            continue
        written = target.read_bytes()
        if written == original:
            identical += 1
            continue
        kind, hint = diff_hint(original, written)
        kinds[kind] += 1
        differing.append((source_path, hint))
    compared = len(files) - missing
    print(
        f"  byte-identical exports: {identical} of {compared} exported "
        f"({missing} files not exported); differing: "
        + (", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none")
    )
    for source_path, hint in differing[: min(run.show, 5)]:
        print(f"    {source_path}: {hint}")
    run.figures.update(identical=identical, compared=compared, byte_diff_kinds=dict(kinds))


def diff_hint(original: bytes, written: bytes) -> tuple[str, str]:
    """(what kind of difference, a one-line hint at the first difference)."""
    if original.replace(b"\r\n", b"\n") == written:
        return "line endings", "CRLF written as LF (nothing else differs)"
    if original.rstrip(b"\r\n") == written.rstrip(b"\r\n"):
        return "final newline", f"ends {original[-2:]!r} in the file, {written[-2:]!r} exported"
    if original.startswith(b"\xef\xbb\xbf") != written.startswith(b"\xef\xbb\xbf"):
        return "BOM", "byte order mark added or dropped"
    old_lines = split_lines(decode(original).replace("\r\n", "\n"))
    new_lines = split_lines(decode(written).replace("\r\n", "\n"))
    _, front_lines = front_matter_text(original)
    _, new_front_lines = front_matter_text(written)
    same_body = old_lines[front_lines:] == new_lines[new_front_lines:]
    kind = "front matter only" if same_body else "body too"
    for number, (old, new) in enumerate(zip(old_lines, new_lines, strict=False), 1):
        if old != new:
            return kind, f"line {number}: -{shorten(old)} +{shorten(new)}"
    longer = "export" if len(new_lines) > len(old_lines) else "file"
    return kind, f"the {longer} has {abs(len(new_lines) - len(old_lines))} more lines at the end"


def shorten(line: str, width: int = 60) -> str:
    text = line.rstrip("\n")
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def compare_values(run: FolderRun, files: dict[str, bytes], exported: Path) -> None:
    loaders = yaml_loaders()
    changed: dict[str, Counter[str]] = {v: Counter() for v in loaders}
    added: dict[str, Counter[str]] = {v: Counter() for v in loaders}
    removed: dict[str, Counter[str]] = {v: Counter() for v in loaders}
    unreadable: Counter[str] = Counter()
    examples: dict[tuple[str, str], str] = {}
    duplicates_in_files = duplicates_in_exports = 0
    for source_path, original in files.items():
        target = exported / source_path
        if not target.is_file():
            continue
        old_text, _ = front_matter_text(original)
        new_text, _ = front_matter_text(target.read_bytes())
        if old_text is None or new_text is None:
            unreadable["no YAML front matter"] += 1
            continue
        duplicates_in_files += has_duplicate_keys(old_text)
        duplicates_in_exports += has_duplicate_keys(new_text)
        for version, load in loaders.items():
            try:
                old, new = load(old_text) or {}, load(new_text) or {}
            except Exception as exc:  # noqa: BLE001 - unreadable YAML is a finding
                unreadable[f"YAML {version}: {type(exc).__name__}"] += 1
                continue
            if not isinstance(old, dict) or not isinstance(new, dict):
                unreadable[f"YAML {version}: not a mapping"] += 1
                continue
            for key in old.keys() | new.keys():
                name = str(key)
                if key not in new:
                    removed[version][name] += 1
                elif key not in old:
                    added[version][name] += 1
                elif not same_value(old[key], new[key]):
                    changed[version][name] += 1
                    examples.setdefault(
                        (version, name),
                        f"{source_path}: {old[key]!r} -> {new[key]!r}"[:160],
                    )
    if "1.2" not in loaders:
        print("  (ruamel.yaml is not installed: YAML 1.2 not checked; pip install ruamel.yaml)")
    for version in loaders:
        total = sum(changed[version].values()) + sum(added[version].values())
        total += sum(removed[version].values())
        print(
            f"  values read back differently, YAML {version}: {total} "
            f"(changed {sum(changed[version].values())}, added {sum(added[version].values())}, "
            f"removed {sum(removed[version].values())})"
        )
        for label, counter in (("changed", changed), ("added", added), ("removed", removed)):
            if counter[version]:
                keys = ", ".join(f"{k} ×{n}" for k, n in counter[version].most_common(8))
                print(f"    {label}: {keys}")
        for (v, _name), example in list(examples.items()):
            if v == version:
                print(f"      e.g. {example}")
        run.figures[f"values_{version}"] = total
        run.figures[f"values_{version}_changed"] = sum(changed[version].values())
    print(
        f"  duplicate keys: {duplicates_in_files} files, {duplicates_in_exports} exports"
        + (f"; unreadable: {dict(unreadable)}" if unreadable else "")
    )
    run.figures.update(duplicate_key_files=duplicates_in_files,
                       duplicate_key_exports=duplicates_in_exports)  # fmt: skip


def title_edit(run: FolderRun, files: dict[str, bytes], out: Path) -> None:
    """Change one title as the admin does, export that notice, count the lines that differ."""
    from notices.exporting import export_notices
    from notices.models import Notice

    # The first file by name (in Python's order: databases collate differently).
    notice = None
    for source_path in sorted(files):
        notice = Notice.objects.filter(source_path=source_path).order_by("id").first()
        if notice:
            break
    if notice is None:
        print("  title edit: no notice to edit")
        return
    notice.title = f"{notice.title} (edited)"
    notice.mark_edited()
    notice.save()
    export_notices(Notice.objects.filter(pk=notice.pk), out)
    written = next((p for p in out.rglob("*") if p.is_file()), None)
    if written is None:
        print("  title edit: nothing exported")
        return
    old_lines = split_lines(decode(files[notice.source_path]))
    new_lines = split_lines(decode(written.read_bytes()))
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    differing = 0
    shown: list[str] = []
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        differing += max(a2 - a1, b2 - b1)
        shown += [f"-{shorten(line)}" for line in old_lines[a1:a2]]
        shown += [f"+{shorten(line)}" for line in new_lines[b1:b2]]
    print(f"  title edit of {notice.source_path}: {differing} lines differ (target 1)")
    for line in shown[:6]:
        print(f"    {line}")
    run.figures["edit_lines"] = differing


# --- Summary -----------------------------------------------------------------------------------

ROWS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("files found", lambda r: r.get("files")),
    ("imported", lambda r: r.get("imported")),
    ("rejected", lambda r: r.get("rejected")),
    ("warnings", lambda r: r.get("warnings")),
    ("dates: front matter", lambda r: (r.get("dates") or {}).get("front_matter")),
    ("dates: file name", lambda r: (r.get("dates") or {}).get("file_name")),
    ("dates: modification time", lambda r: (r.get("dates") or {}).get("file_mtime")),
    ("  (files with no date:)", lambda r: r.get("files_without_date")),
    ("notices with attachments", lambda r: r.get("with_attachments")),
    ("  attachments listed", lambda r: r.get("attachments")),
    *[
        (f"    {kind}", lambda r, kind=kind: (r.get("attachment_kinds") or {}).get(kind, 0))
        for kind in ("PDF", "Word", "Excel", "PPT", "WPS", "压缩包", "文本", "文件")
    ],
    ("detail pages fetched", lambda r: r.get("pages")),
    ("  not 200 (of which 5xx)", lambda r: pair(r, "pages_not_200", "pages_500")),
    ("pages with raw markup text", lambda r: r.get("raw_pages")),
    ("  script/style content as text", lambda r: r.get("leak_pages")),
    ("real iframe / script", lambda r: pair(r, "real_iframes", "real_scripts")),
    ("internal links", lambda r: r.get("links")),
    ("  200", lambda r: r.get("links_200")),
    ("  404 to posts in archive", lambda r: r.get("links_404_in_archive")),
    ("  404 to things not in it", lambda r: r.get("links_404_not_in_archive")),
    ("  other status", lambda r: r.get("links_other")),
    ("asset links (200 / 404)", lambda r: triple(r, "assets", "assets_200", "assets_404")),
    ("byte-identical exports", lambda r: ratio(r, "identical", "compared")),
    ("values differing YAML 1.1", lambda r: r.get("values_1.1")),
    ("values differing YAML 1.2", lambda r: r.get("values_1.2")),
    ("duplicate keys file / export", lambda r: pair(r, "duplicate_key_files",
                                                       "duplicate_key_exports")),
    ("title edit: lines differing", lambda r: r.get("edit_lines")),
    ("seconds", lambda r: round(r["seconds"], 1) if "seconds" in r else None),
]  # fmt: skip


def pair(result: dict[str, Any], a: str, b: str) -> str | None:
    if a not in result:
        return None
    return f"{result[a]} / {result.get(b, '?')}"


def triple(result: dict[str, Any], total: str, a: str, b: str) -> str | None:
    if total not in result:
        return None
    return f"{result[total]} ({result.get(a, '?')} / {result.get(b, '?')})"


def ratio(result: dict[str, Any], part: str, whole: str) -> str | None:
    if part not in result:
        return None
    return f"{result[part]}/{result.get(whole, '?')}"


def total_of(results: list[dict[str, Any]], getter: Callable[[dict[str, Any]], Any]) -> str:
    """Column sums: plain numbers add up; `a / b`, `a/b` and `n (a / b)` add part by part."""
    values = [getter(r) for r in results if not r.get("failed")]
    if not values or any(v is None for v in values):
        return "-"
    if all(isinstance(v, int | float) for v in values):
        total = sum(values)
        return f"{total:.1f}" if isinstance(total, float) else str(total)
    shapes = {NUMBERS.sub("\0", str(v)) for v in values}
    if len(shapes) != 1:
        return "-"
    numbers = [list(map(int, NUMBERS.findall(str(v)))) for v in values]
    sums = iter(str(sum(column)) for column in zip(*numbers, strict=True))
    return re.sub("\0", lambda _: next(sums), shapes.pop())


def print_summary(results: list[dict[str, Any]]) -> None:
    names = [r.get("folder", "?") for r in results]
    width = max(14, *(len(n) + 2 for n in names))
    print(f"\n## Summary ({dt.datetime.now():%Y-%m-%d %H:%M}, {database_label()})\n")
    header = f"| {'':<30} |" + "".join(f" {n:>{width}} |" for n in [*names, "total"])
    print(header)
    print("|" + "-" * 32 + "|" + "".join("-" * (width + 1) + ":|" for _ in [*names, "total"]))
    for label, getter in ROWS:
        cells = []
        for result in results:
            value = "failed" if result.get("failed") else getter(result)
            cells.append("-" if value is None else str(value))
        cells.append(total_of(results, getter))
        print(f"| {label:<30} |" + "".join(f" {c:>{width}} |" for c in cells))
    failed = [r for r in results if r.get("failed_steps")]
    for result in failed:
        print(f"\n{result['folder']}: steps that failed: {', '.join(result['failed_steps'])}")


def database_label() -> str:
    given = os.environ.get("DATABASE_URL", "")
    return "PostgreSQL" if given.startswith(("postgres://", "postgresql://")) else "SQLite"


if __name__ == "__main__":
    raise SystemExit(main())
