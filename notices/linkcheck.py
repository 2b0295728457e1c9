"""Originals that disappear (issue 15, part 4): check the links notices came from, politely,
and keep what was found (SourceCheck rows) for the pages, the lists' `?source=gone`, the
admin and the JSON.

`check_sources()` is the run `manage.py check_sources` makes:

- the URLs are `urls_to_check()` (notices' source links; attachment links join there), the
  never-checked first, then the longest unchecked (`due()`);
- a thread pool (`workers`) with at most `per_host` requests in flight to one host and
  `delay` seconds between the starts of two requests to it (`HostLimiter`);
- robots.txt is fetched once a run per origin and obeyed (`Robots`, RFC 9309: a 4xx means
  no rules, a 5xx or an unreachable server means nothing may be fetched: such URLs are an
  `error`, left for a later run);
- each host is looked up once a run (`Addresses`): no such name is `domain_gone`, and a host
  at a private, loopback or link-local address is not asked at all (archive documents are
  hostile: a source link must not make this server probe its own network) unless
  `allow_private`;
- each URL is asked with HEAD, and with GET when HEAD is refused (405, 501); redirects are
  followed one hop at a time (at most `max_redirects`), each hop recorded; a GET reads at
  most `max_body` bytes and is closed. Connect and read timeouts bound each step and
  `deadline` the network time of one URL;
- results are written by the calling thread in batches, one transaction and one data-version
  bump each (the workers never touch the database).

What the outcomes mean, and why an error never makes a notice dead: models.SourceCheck.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notices.caching import bump_data_version
from notices.models import Notice, SourceCheck

Outcome = SourceCheck.Outcome

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HEAD_REFUSED = frozenset({405, 501})
GONE_CODES = frozenset({404, 410})
# RFC 9309 2.5: crawlers must read at least 500 KiB of a robots.txt; the rest is ignored.
ROBOTS_MAX_BYTES = 500 * 1024
# RFC 9309 2.3.1.2: follow at least five redirects for robots.txt; more = unavailable (4xx).
ROBOTS_MAX_REDIRECTS = 5
BATCH_SIZE = 100
ERROR_CHARS = 500
# A site's home page: "/", "", or one index/default/home page at the root.
_HOME_FILE = re.compile(r"(index|default|home)\.(html?|s?html|php|jsp|aspx?)", re.IGNORECASE)
# getaddrinfo()'s "no such name" answers; EAI_AGAIN (the name server did not answer) is not.
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def user_agent() -> str:
    """An honest User-Agent: the checker's name and where a site owner reads about it."""
    contact = settings.NOTICES_LINKCHECK_CONTACT or settings.NOTICES_SITE_URL
    return (
        f"Noticeboard-link-checker/1.0 (+{contact})" if contact else "Noticeboard-link-checker/1.0"
    )


@dataclass(frozen=True)
class Options:
    workers: int = 8
    per_host: int = 2
    delay: float = 1.0
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 30.0
    max_redirects: int = 10
    max_body: int = 4096
    user_agent: str = field(default_factory=user_agent)
    # Archive documents are not trusted: a source link to 127.0.0.1, 10.x or 169.254.169.254
    # would have this server probe its own network and publish the status. Allowed only for
    # an intranet archive (and the tests' servers on 127.0.0.1).
    allow_private: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1 or self.per_host < 1:
            raise ValueError("workers and per_host must be at least 1")
        if min(self.connect_timeout, self.read_timeout, self.deadline) <= 0 or self.delay < 0:
            raise ValueError("timeouts must be positive and the delay not negative")


@dataclass
class Result:
    """What one check of one URL found."""

    url: str
    outcome: str
    status: int | None = None
    final_url: str = ""
    redirects: list[dict] = field(default_factory=list)
    error: str = ""


# --- Which URLs ----------------------------------------------------------------------------


def urls_to_check() -> list[str]:
    """Every distinct URL the checker looks after: the source link of each published notice.
    (Attachment links join here when notices have them.)"""
    sources = (
        Notice.objects.published()
        .exclude(source_url="")
        .order_by()
        .values_list("source_url", flat=True)
        .distinct()
    )
    return sorted(set(sources))


def due(
    urls: Iterable[str],
    *,
    older_than: dt.timedelta | None = None,
    limit: int | None = None,
    now: dt.datetime | None = None,
) -> list[str]:
    """`urls` in the order a run checks them: never checked first, then the longest unchecked;
    with `older_than`, only those not checked within it; at most `limit`."""
    now = now or timezone.now()
    checked = dict(SourceCheck.objects.values_list("url_hash", "checked_at"))
    rows = [(checked.get(SourceCheck.hash_url(url)), url) for url in urls]
    if older_than is not None:
        rows = [(at, url) for at, url in rows if at is None or at <= now - older_than]
    rows.sort(key=lambda row: (row[0] is not None, row[0] or now, row[1]))
    return [url for _, url in rows[:limit]]


def origin(url: str) -> str:
    """scheme://host[:port] in lower case: the unit of politeness and of robots.txt ("" for
    a URL that cannot be split, which its check reports)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass
class Plan:
    urls: int
    hosts: int
    due: int
    notices: int
    busiest: list[tuple[str, int]]

    def lines(self, options: Options) -> list[str]:
        # Starts to one host are `delay` apart: its URLs take at least that long in a row.
        slowest = max((count for _, count in self.busiest), default=0) * options.delay
        return [
            f"{self.notices} notices with a source link: {self.urls} distinct URLs "
            f"on {self.hosts} hosts; {self.due} due in this run",
            *(f"  {host}: {count} URLs" for host, count in self.busiest),
            f"at least {slowest:.0f} s at --delay {options.delay:g} (the busiest host's URLs, "
            f"one start per delay), plus one robots.txt request per host",
        ]


def plan(urls: list[str], due_urls: list[str], *, top: int = 10) -> Plan:
    """What a run would check, without a request: for operators (`check_sources --plan`)."""
    hosts = Counter(origin(url) for url in due_urls)
    return Plan(
        urls=len(urls),
        hosts=len({origin(url) for url in urls}),
        due=len(due_urls),
        notices=Notice.objects.published().exclude(source_url="").count(),
        busiest=hosts.most_common(top),
    )


def by_host_in_turn(urls: list[str]) -> list[str]:
    """`urls` taking one host after another, each host's in their order: eight workers then
    wait on one busy host's limit as little as the hosts allow."""
    queues: dict[str, list[str]] = {}
    for url in urls:
        queues.setdefault(origin(url), []).append(url)
    ordered: list[str] = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        ordered += [queue[depth] for queue in queues.values() if depth < len(queue)]
    return ordered


# --- Politeness ------------------------------------------------------------------------------


class HostLimiter:
    """At most `per_host` requests in flight to one origin, their starts `delay` apart."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.per_host = per_host
        self.delay = delay
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[threading.Semaphore, threading.Lock, list[float]]] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = (threading.Semaphore(self.per_host), threading.Lock(), [0.0])
            semaphore, lock, next_start = self._hosts[host]
        with semaphore:
            with lock:
                now = time.monotonic()
                start = max(now, next_start[0])
                next_start[0] = start + self.delay
            if start > now:
                time.sleep(start - now)
            yield


@dataclass
class _Rules:
    parser: RobotFileParser | None = None  # None: no rules (allowed)
    refusal: Result | None = None  # robots.txt said nothing may be fetched, or was unreachable

    def allows(self, url: str, agent: str) -> bool:
        return self.parser is None or self.parser.can_fetch(agent, url)


class Addresses:
    """Each host's addresses, looked up once a run: a host that does not resolve is
    `domain_gone` (the name server says no such name) or an `error` (it did not answer), and
    one with a non-public address is not checked unless `allow_private`."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._lock = threading.Lock()
        self._problems: dict[tuple[str, int], Result | None] = {}

    def problem(self, url: str) -> Result | None:
        parts = urlsplit(url)
        key = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        with self._lock:
            if key in self._problems:
                return self._problems[key]
        problem = self._look_up(*key)
        with self._lock:
            self._problems[key] = problem
        return problem

    def _look_up(self, host: str, port: int) -> Result | None:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            outcome = Outcome.DOMAIN_GONE if exc.errno in _NO_SUCH_NAME else Outcome.ERROR
            return Result("", outcome, error=describe(exc))
        except (OSError, UnicodeError, ValueError) as exc:
            return Result("", Outcome.ERROR, error=describe(exc))
        if self.allow_private:
            return None
        for *_, address in found:
            ip = ipaddress.ip_address(str(address[0]).split("%")[0])
            if not ip.is_global:
                return Result(
                    "", Outcome.ERROR, error=f"not checked: {host} is at {ip}, not public"
                )
        return None


class Robots:
    """robots.txt of each origin, fetched once a run (under the host's limit) and kept."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self._lock = threading.Lock()
        self._rules: dict[str, _Rules] = {}
        self._fetching: dict[str, threading.Lock] = {}

    def rules(self, url: str) -> _Rules:
        host = origin(url)
        with self._lock:
            if host in self._rules:
                return self._rules[host]
            lock = self._fetching.setdefault(host, threading.Lock())
        with lock:  # one worker fetches, the others of the host wait for it
            with self._lock:
                if host in self._rules:
                    return self._rules[host]
            rules = self._fetch(host)
            with self._lock:
                self._rules[host] = rules
            return rules

    def _fetch(self, host: str) -> _Rules:
        robots_url = f"{host}/robots.txt"
        try:
            status, text = self.fetcher.robots(robots_url)
        except requests.TooManyRedirects:
            return _Rules()  # RFC 9309 2.3.1.2: unavailable, as a 4xx
        except Exception as exc:  # noqa: BLE001 - any failure: nothing may be fetched
            outcome = Outcome.DOMAIN_GONE if _name_not_found(exc) else Outcome.ERROR
            return _Rules(refusal=Result("", outcome, error=f"robots.txt: {describe(exc)}"))
        if 200 <= status < 300:
            parser = RobotFileParser(robots_url)
            parser.parse(text.splitlines())
            return _Rules(parser=parser)
        if 400 <= status < 500:
            return _Rules()  # RFC 9309 2.3.1.3: unavailable, no rules
        # RFC 9309 2.3.1.4: unreachable (5xx, or a 3xx without a target): disallow all.
        return _Rules(refusal=Result("", Outcome.ERROR, status=status,
                                     error=f"robots.txt answered HTTP {status}"))  # fmt: skip


# --- One URL -----------------------------------------------------------------------------------


class Fetcher:
    """The requests of a run: a requests.Session per worker thread (a Session is not meant
    to be shared between threads), every request under the host's limit."""

    def __init__(self, options: Options, limiter: HostLimiter) -> None:
        self.options = options
        self.limiter = limiter
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.options.user_agent
            session.max_redirects = ROBOTS_MAX_REDIRECTS  # only robots.txt follows them itself
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()

    def _timeout(self, remaining: float) -> tuple[float, float]:
        return (
            min(self.options.connect_timeout, remaining),
            min(self.options.read_timeout, remaining),
        )

    def robots(self, url: str) -> tuple[int, str]:
        with self.limiter.slot(origin(url)):
            response = self.session().get(
                url, timeout=self._timeout(self.options.deadline), stream=True
            )
            try:
                body = _read_at_most(
                    response, ROBOTS_MAX_BYTES, time.monotonic() + self.options.deadline
                )
            finally:
                response.close()
        return response.status_code, body.decode("utf-8", "replace")

    def ask(self, method: str, url: str, remaining: float) -> tuple[int, str, float]:
        """(status, Location header, network seconds) of one request, redirects not followed;
        a GET reads at most max_body bytes of the body."""
        with self.limiter.slot(origin(url)):
            started = time.monotonic()
            response = self.session().request(
                method, url, allow_redirects=False, stream=True, timeout=self._timeout(remaining)
            )
            try:
                if method == "GET":
                    _read_at_most(response, self.options.max_body, started + remaining)
            finally:
                response.close()
            return (
                response.status_code,
                response.headers.get("Location", ""),
                time.monotonic() - started,
            )


def _read_at_most(response: requests.Response, limit: int, deadline: float) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:limit]


def check_url(url: str, fetcher: Fetcher, robots: Robots, addresses: Addresses) -> Result:
    """Check one URL; never raises (one broken URL never stops a run)."""
    try:
        return _check(url, fetcher, robots, addresses)
    except Exception as exc:  # noqa: BLE001
        return Result(url, Outcome.ERROR, final_url=url, error=describe(exc))


def _check(url: str, fetcher: Fetcher, robots: Robots, addresses: Addresses) -> Result:
    options = fetcher.options
    current, hops, spent = url, [], 0.0
    for _ in range(options.max_redirects + 1):
        parts = urlsplit(current)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return Result(url, Outcome.ERROR, final_url=current, redirects=hops,
                          error="not an http(s) URL")  # fmt: skip
        if spent >= options.deadline:
            return Result(url, Outcome.ERROR, final_url=current, redirects=hops,
                          error=f"deadline of {options.deadline:g} s passed")  # fmt: skip
        # Every hop: a redirect may lead to a host that is gone, or to a private address.
        refusal = addresses.problem(current)
        if refusal is None:
            rules = robots.rules(current)
            refusal = rules.refusal
            if refusal is None and not rules.allows(current, options.user_agent):
                return Result(url, Outcome.DISALLOWED, final_url=current, redirects=hops,
                              error="robots.txt disallows it")  # fmt: skip
        if refusal is not None:
            return Result(url, refusal.outcome, status=refusal.status, final_url=current,
                          redirects=hops, error=refusal.error)  # fmt: skip
        try:
            status, location, seconds = fetcher.ask("HEAD", current, options.deadline - spent)
            spent += seconds
            if status in HEAD_REFUSED and spent < options.deadline:
                status, location, seconds = fetcher.ask("GET", current, options.deadline - spent)
                spent += seconds
        except Exception as exc:  # noqa: BLE001
            outcome = Outcome.DOMAIN_GONE if _name_not_found(exc) else Outcome.ERROR
            return Result(url, outcome, final_url=current, redirects=hops, error=describe(exc))
        if status in REDIRECT_CODES and location:
            hops.append({"url": current, "status": status})
            current = urljoin(current, location.strip())
            continue
        return classify(url, status, current, hops)
    return Result(url, Outcome.ERROR, final_url=current, redirects=hops,
                  error=f"more than {options.max_redirects} redirects")  # fmt: skip


def classify(url: str, status: int, final_url: str, hops: list[dict]) -> Result:
    """The outcome of the last answer of a chain."""
    result = Result(url, Outcome.OK, status=status, final_url=final_url, redirects=hops)
    if 200 <= status < 300:
        if hops and is_home_page(final_url) and not is_home_page(url, strict=True):
            result.outcome = Outcome.MOVED_HOME
    elif status in GONE_CODES:
        result.outcome = Outcome.GONE
    else:  # 5xx, 401/403/429 (often a bot block), a 3xx without a target: not "gone"
        result.outcome = Outcome.ERROR
        result.error = f"HTTP {status}"
    return result


def is_home_page(url: str, *, strict: bool = False) -> bool:
    """Whether `url` is a site's home page: path "" or "/", or one index page at the root.
    `strict`: a query string makes it a deeper page (`/index.php?id=7` is a notice)."""
    parts = urlsplit(url)
    if strict and parts.query:
        return False
    segments = [segment for segment in parts.path.split("/") if segment]
    return not segments or (len(segments) == 1 and bool(_HOME_FILE.fullmatch(segments[0])))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        stack += [item for item in linked if isinstance(item, BaseException)]


def _name_not_found(exc: BaseException) -> bool:
    """Whether the failure is the name server saying the host name does not exist."""
    return any(
        isinstance(cause, socket.gaierror) and cause.errno in _NO_SUCH_NAME
        for cause in _causes(exc)
    )


def describe(exc: BaseException) -> str:
    """A short message naming the kind of failure (urllib3's are long and repeat the URL)."""
    if _name_not_found(exc):
        return "host name not found (DNS)"
    kinds = [
        (requests.exceptions.ConnectTimeout, "connect timeout"),
        (requests.exceptions.ReadTimeout, "read timeout"),
        (requests.exceptions.Timeout, "timeout"),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            return text
    for cause in _causes(exc):
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"DNS: {cause.strerror}"
        if type(cause).__name__ == "ReadTimeoutError":
            return "read timeout"
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


# --- A run -----------------------------------------------------------------------------------


@dataclass
class RunReport:
    checked: int = 0
    outcomes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        parts = ", ".join(f"{outcome} {self.outcomes[outcome]}" for outcome in Outcome.values)
        return f"{self.checked} URLs checked in {self.seconds:.1f} s: {parts}"


def record(results: list[Result], *, now: dt.datetime | None = None) -> None:
    """Store results (one row per URL) in one transaction with one data-version bump."""
    if not results:
        return
    now = now or timezone.now()
    by_hash = {SourceCheck.hash_url(result.url): result for result in results}
    with transaction.atomic():
        existing = SourceCheck.objects.in_bulk(list(by_hash), field_name="url_hash")
        new, changed = [], []
        for url_hash, result in by_hash.items():
            row = existing.get(url_hash)
            if row is None:
                row = SourceCheck(url=result.url, url_hash=url_hash)
                new.append(row)
            else:
                changed.append(row)
            _apply(row, result, now)
        SourceCheck.objects.bulk_create(new)
        SourceCheck.objects.bulk_update(changed, [
            "outcome", "status", "final_url", "redirects", "error", "checked_at",
            "first_failed_at", "failures",
        ])  # fmt: skip
        bump_data_version()  # pages show "原文已失效" and lists filter on it


def _apply(row: SourceCheck, result: Result, now: dt.datetime) -> None:
    previous = row.outcome if row.pk else None
    row.outcome = result.outcome
    row.status = result.status
    row.final_url = result.final_url
    row.redirects = result.redirects
    row.error = result.error[:ERROR_CHARS]
    row.checked_at = now
    if result.outcome in (Outcome.OK, Outcome.DISALLOWED):
        row.failures, row.first_failed_at = 0, None
        return
    row.failures = row.failures + 1 if previous == result.outcome else 1
    if previous in (None, Outcome.OK, Outcome.DISALLOWED) or row.first_failed_at is None:
        row.first_failed_at = now


def check_sources(
    urls: list[str],
    options: Options | None = None,
    *,
    progress: Callable[[RunReport, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> RunReport:
    """Check `urls` (in this order of priority) and store each result; returns the counts.
    `progress(report, total)` is called after each stored batch."""
    options = options or Options()
    started = time.monotonic()
    report = RunReport()
    limiter = HostLimiter(options.per_host, options.delay)
    fetcher = Fetcher(options, limiter)
    robots = Robots(fetcher)
    addresses = Addresses(options.allow_private)
    pending: list[Result] = []

    def flush() -> None:
        record(pending)
        for result in pending:
            report.outcomes[result.outcome] += 1
        report.checked += len(pending)
        report.seconds = time.monotonic() - started
        pending.clear()
        if progress:
            progress(report, len(urls))

    pool = ThreadPoolExecutor(options.workers, thread_name_prefix="linkcheck")
    try:
        futures = [
            pool.submit(check_url, url, fetcher, robots, addresses) for url in by_host_in_turn(urls)
        ]
        for future in as_completed(futures):
            pending.append(future.result())
            if len(pending) >= batch_size:
                flush()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: keep what was checked
        raise
    finally:
        if pending:
            flush()
        pool.shutdown(wait=True)
        fetcher.close()
    report.seconds = time.monotonic() - started
    return report
