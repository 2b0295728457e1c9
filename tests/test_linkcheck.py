"""Issue 15, part 4: originals that disappear.

The checker runs against HTTP servers these tests start on 127.0.0.1 (ThreadingHTTPServer on
port 0), never the internet; the one host that must fail DNS is under `.invalid` (RFC 2606).
Pages, the filter, the JSON and the admin read SourceCheck rows made as the checker makes them.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from unittest import skipUnless

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from notices import linkcheck
from notices.caching import bump_data_version
from notices.linkcheck import Options, Result, check_sources, due, record, urls_to_check
from notices.models import SourceCheck
from tests.helpers import SHANGHAI, hrefs, make_notice, parse_html, visible_text
from tests.test_browser import ARTIFACTS, CHROMIUM, ChromiumTestCase
from tests.test_browser_layout import build_layout_archive

Outcome = SourceCheck.Outcome
# Short timeouts and no politeness delay: each test takes a fraction of a second.
FAST = Options(
    workers=8, per_host=2, delay=0, connect_timeout=1, read_timeout=0.3, deadline=3,
    user_agent="Noticeboard-link-checker/1.0 (+https://notices.test)", allow_private=True,
)  # fmt: skip
CHECKED = dt.datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
GONE_URL = "https://www.blgc.edu.cn/info/1021/3456.htm"


class Handler(BaseHTTPRequestHandler):
    """The routes of the test site; the server keeps what it saw (server.seen)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self.answer(head=True)

    def do_GET(self) -> None:
        self.answer(head=False)

    def send(self, status: int, body: bytes = b"", head: bool = False, **headers: str) -> None:
        self.done()  # counted in flight until it answers: the client may ask again from here
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def answer(self, *, head: bool) -> None:
        server = self.server
        with server.lock:
            server.seen.append((self.command, self.path, self.headers.get("User-Agent", "")))
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
            server.lock.notify_all()
        self.counted = True
        try:
            self.route(self.path, head)
        finally:
            self.done()

    def done(self) -> None:
        if getattr(self, "counted", False):
            self.counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def route(self, path: str, head: bool) -> None:
        page = "<html><body>通知</body></html>".encode()
        if path == "/robots.txt":
            status, text = self.server.robots
            self.send(status, text.encode(), head)
        elif path in ("/", "/notice.html", "/chain/c", "/private-ok.html") or path.startswith(
            "/busy/"
        ):
            if path.startswith("/busy/"):
                # Held until as many requests as the host may get are in flight (or a second
                # has passed), so a loaded machine cannot hide a limit that lets more through.
                with self.server.lock:
                    self.server.lock.wait_for(
                        lambda: self.server.in_flight >= self.server.busy_peak, timeout=1.0
                    )
                time.sleep(0.05)
            self.send(200, page, head, Content_Type="text/html; charset=utf-8")
        elif path == "/chain/a":
            self.send(301, b"", head, Location="/chain/b")
        elif path == "/chain/b":
            self.send(
                302, b"", head, Location=f"http://127.0.0.1:{self.server.server_port}/chain/c"
            )
        elif path == "/missing.html":
            self.send(404, b"not found", head)
        elif path == "/removed.html":
            self.send(410, b"gone", head)
        elif path == "/slow.html":
            time.sleep(2.0)  # past the read timeout (0.3 s)
            self.send(200, page, head)
        elif path == "/reset.html":
            # SO_LINGER 0: close() sends a TCP reset instead of a clean end.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif path == "/2019/notice-moved.html":
            self.send(302, b"", head, Location="/index.html")
        elif path == "/index.html":
            self.send(200, page, head)
        elif path == "/no-head.html":
            if head:
                self.send(405, b"", head, Allow="GET")
            else:
                self.send(200, page * 1000, head)  # more than the checker reads
        elif path == "/unavailable.html":
            self.send(503, b"busy", head)
        elif path == "/loop.html":
            self.send(302, b"", head, Location="/loop.html")
        else:
            self.send(404, b"", head)


class Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Condition()
        self.busy_peak = 2  # requests in flight that /busy/ waits for
        self.seen: list[tuple[str, str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.robots = (200, "User-agent: *\nDisallow: /private/\n")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def paths(self, method: str | None = None) -> list[str]:
        return [path for m, path, _ in self.seen if method in (None, m) and path != "/robots.txt"]


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def check(site: Site, path: str, options: Options = FAST) -> SourceCheck:
    url = site.url(path)
    check_sources([url], options)
    return SourceCheck.objects.get(url_hash=SourceCheck.hash_url(url))


# --- What one check finds -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_page_that_answers_200_is_ok(site: Site) -> None:
    row = check(site, "/notice.html")
    assert (row.outcome, row.status, row.redirects) == (Outcome.OK, 200, [])
    assert row.final_url == site.url("/notice.html")
    assert not row.is_dead and row.failures == 0 and row.first_failed_at is None
    # HEAD is enough, and the checker says who it is.
    assert site.paths() == ["/notice.html"]
    assert {agent for *_, agent in site.seen} == {FAST.user_agent}


@pytest.mark.django_db
def test_a_301_302_chain_is_followed_hop_by_hop_and_recorded(site: Site) -> None:
    row = check(site, "/chain/a")
    assert row.outcome == Outcome.OK
    assert row.redirects == [
        {"url": site.url("/chain/a"), "status": 301},
        {"url": site.url("/chain/b"), "status": 302},
    ]
    assert row.final_url == site.url("/chain/c")
    assert site.paths("HEAD") == ["/chain/a", "/chain/b", "/chain/c"]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "status"), [("/missing.html", 404), ("/removed.html", 410)])
def test_404_and_410_are_gone_after_one_check(site: Site, path: str, status: int) -> None:
    row = check(site, path)
    assert (row.outcome, row.status, row.failures) == (Outcome.GONE, status, 1)
    assert row.is_dead and row.first_failed_at == row.checked_at


@pytest.mark.django_db
def test_a_redirect_to_the_home_page_is_moved_home(site: Site) -> None:
    row = check(site, "/2019/notice-moved.html")
    assert row.outcome == Outcome.MOVED_HOME and row.is_dead
    assert row.final_url == site.url("/index.html")
    assert row.redirects == [{"url": site.url("/2019/notice-moved.html"), "status": 302}]


@pytest.mark.django_db
def test_a_read_timeout_is_an_error_not_gone(site: Site) -> None:
    started = time.monotonic()
    row = check(site, "/slow.html")
    assert time.monotonic() - started < 1.5  # the read timeout, not the server's sleep
    assert (row.outcome, row.error) == (Outcome.ERROR, "read timeout")
    assert not row.is_dead


@pytest.mark.django_db
def test_a_connection_reset_is_an_error_not_gone(site: Site) -> None:
    row = check(site, "/reset.html")
    assert row.outcome == Outcome.ERROR and not row.is_dead
    assert row.error == "connection reset"


@pytest.mark.django_db
def test_head_refused_falls_back_to_a_get_that_reads_a_few_kb(site: Site) -> None:
    row = check(site, "/no-head.html")
    assert (row.outcome, row.status) == (Outcome.OK, 200)
    assert [(m, p) for m, p, _ in site.seen if p != "/robots.txt"] == [
        ("HEAD", "/no-head.html"),
        ("GET", "/no-head.html"),
    ]


@pytest.mark.django_db
def test_robots_txt_is_obeyed_and_fetched_once_a_run(site: Site) -> None:
    private = [site.url(f"/private/{n}.html") for n in range(3)]
    check_sources([*private, site.url("/notice.html")], FAST)
    rows = {row.url: row for row in SourceCheck.objects.all()}
    assert {rows[url].outcome for url in private} == {Outcome.DISALLOWED}
    assert rows[site.url("/notice.html")].outcome == Outcome.OK
    assert site.paths() == ["/notice.html"]  # nothing under /private/ was asked for
    assert [path for _, path, _ in site.seen].count("/robots.txt") == 1


@pytest.mark.django_db
def test_robots_txt_4xx_allows_and_5xx_checks_nothing(site: Site) -> None:
    site.robots = (404, "")
    assert check(site, "/notice.html").outcome == Outcome.OK
    site.robots = (503, "")
    site.seen.clear()
    row = check(site, "/missing.html")  # a new run: robots.txt is asked again
    assert row.outcome == Outcome.ERROR and "robots.txt" in row.error and not row.is_dead
    assert site.paths() == []


@pytest.mark.django_db
def test_a_host_gets_at_most_per_host_requests_at_once(site: Site) -> None:
    urls = [site.url(f"/busy/{n}") for n in range(10)]
    patient = {**FAST.__dict__, "read_timeout": 3, "deadline": 10}  # a loaded machine is slow
    check_sources(urls, Options(**patient))  # eight workers, two a host
    assert site.most_in_flight == 2
    assert SourceCheck.objects.filter(outcome=Outcome.OK).count() == 10
    site.most_in_flight, site.busy_peak = 0, 1
    check_sources(urls, Options(**{**patient, "per_host": 1}))
    assert site.most_in_flight == 1


@pytest.mark.django_db
def test_requests_to_one_host_start_a_delay_apart(site: Site) -> None:
    starts: list[float] = []
    limiter = linkcheck.HostLimiter(per_host=2, delay=0.2)

    def one() -> None:
        with limiter.slot("http://127.0.0.1:1"):
            starts.append(time.monotonic())

    threads = [threading.Thread(target=one) for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each start waits for its turn (a busy machine may start one later, never sooner).
    assert sorted(starts)[-1] - began >= 3 * 0.2 - 0.01
    assert sorted(starts)[1] - began >= 0.2 - 0.01


@pytest.mark.django_db
def test_a_host_that_does_not_resolve_is_domain_gone_on_the_second_check() -> None:
    url = "http://no-such-school.invalid/2020/notice.html"
    check_sources([url], FAST)
    row = SourceCheck.objects.get()
    assert row.outcome == Outcome.DOMAIN_GONE and row.failures == 1
    assert not row.is_dead  # a name server that failed once
    check_sources([url], FAST)
    row.refresh_from_db()
    assert row.failures == 2 and row.is_dead
    assert SourceCheck.objects.filter(SourceCheck.dead_q()).count() == 1


@pytest.mark.django_db
def test_transient_errors_never_mark_a_source_gone(site: Site) -> None:
    for _ in range(4):
        row = check(site, "/unavailable.html")
    assert (row.outcome, row.status, row.failures) == (Outcome.ERROR, 503, 4)
    assert not row.is_dead
    assert not SourceCheck.objects.filter(SourceCheck.dead_q()).exists()
    # A gone page that then times out is no longer shown as gone: only the last check counts.
    url = site.url("/missing.html")
    record([Result(url, Outcome.GONE, status=404)])
    first_failed = SourceCheck.objects.get(url=url).first_failed_at
    record([Result(url, Outcome.ERROR, error="read timeout")])
    row = SourceCheck.objects.get(url=url)
    assert not row.is_dead and row.first_failed_at == first_failed and row.failures == 1


@pytest.mark.django_db
def test_private_addresses_are_not_asked_unless_allowed(site: Site) -> None:
    # A hostile document's source link must not make the server probe its own network.
    row = check(site, "/notice.html", Options(**{**FAST.__dict__, "allow_private": False}))
    assert row.outcome == Outcome.ERROR and "127.0.0.1, not public" in row.error
    assert site.seen == []  # not even robots.txt
    assert check(site, "/notice.html").outcome == Outcome.OK  # allowed: the tests' server


@pytest.mark.django_db
def test_too_many_redirects_is_an_error(site: Site) -> None:
    row = check(site, "/loop.html", Options(**{**FAST.__dict__, "max_redirects": 3}))
    assert row.outcome == Outcome.ERROR and len(row.redirects) == 4
    assert "more than 3 redirects" in row.error


@pytest.mark.django_db
def test_one_broken_url_never_stops_the_run(site: Site) -> None:
    urls = [
        "http://127.0.0.1:1/refused.html",  # nothing listens on port 1
        "ftp://files.blgc.edu.cn/a.doc",
        "http://[::1/bad",
        site.url("/notice.html"),
    ]
    report = check_sources(urls, FAST)
    assert report.checked == 4 and report.outcomes[Outcome.OK] == 1
    assert SourceCheck.objects.count() == 4
    refused = SourceCheck.objects.get(url=urls[0])
    assert refused.outcome == Outcome.ERROR and "refused" in refused.error


def test_home_pages() -> None:
    home = ["http://a.cn", "http://a.cn/", "http://a.cn/index.html", "http://a.cn/Index.JSP",
            "http://a.cn/default.aspx", "http://a.cn/?from=old"]  # fmt: skip
    deeper = ["http://a.cn/info/1.htm", "http://a.cn/news/index.html"]
    assert all(linkcheck.is_home_page(url) for url in home)
    assert not any(linkcheck.is_home_page(url) for url in deeper)
    assert not linkcheck.is_home_page("http://a.cn/index.php?id=7", strict=True)


def test_the_user_agent_names_the_checker_and_the_site(settings) -> None:
    settings.NOTICES_LINKCHECK_CONTACT = ""
    settings.NOTICES_SITE_URL = "https://notices.example.org"
    assert linkcheck.user_agent() == "Noticeboard-link-checker/1.0 (+https://notices.example.org)"
    settings.NOTICES_LINKCHECK_CONTACT = "mailto:web@blgc.edu.cn"
    assert linkcheck.user_agent() == "Noticeboard-link-checker/1.0 (+mailto:web@blgc.edu.cn)"


# --- Runs: which URLs, in which order -------------------------------------------------------


@pytest.mark.django_db
def test_repeated_runs_check_the_never_checked_then_the_oldest_first() -> None:
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    urls = [f"https://www.blgc.edu.cn/{name}.htm" for name in ("a", "b", "c", "d")]
    record([Result(urls[0], Outcome.OK)], now=now - dt.timedelta(days=1))
    record([Result(urls[1], Outcome.OK)], now=now - dt.timedelta(days=30))
    record([Result(urls[3], Outcome.OK)], now=now - dt.timedelta(days=10))
    assert due(urls, now=now) == [urls[2], urls[1], urls[3], urls[0]]
    assert due(urls, now=now, limit=2) == [urls[2], urls[1]]
    assert due(urls, now=now, older_than=dt.timedelta(days=7)) == [urls[2], urls[1], urls[3]]


@pytest.mark.django_db
def test_the_command_checks_source_links_oldest_first_with_a_limit(site: Site) -> None:
    make_notice(urlname="a", source_url=site.url("/notice.html"))
    make_notice(urlname="b", source_url=site.url("/missing.html"))
    make_notice(urlname="c", source_url=site.url("/missing.html"))  # one URL, two notices
    make_notice(urlname="d", source_url="")
    assert urls_to_check() == sorted({site.url("/notice.html"), site.url("/missing.html")})
    record([Result(site.url("/missing.html"), Outcome.OK)], now=CHECKED)
    out = StringIO()
    options = ["--delay", "0", "--read-timeout", "0.5", "--connect-timeout", "1", "--allow-private"]
    call_command("check_sources", "--limit", "1", *options, stdout=out)
    assert site.paths() == ["/notice.html"]  # never checked: first
    call_command("check_sources", "--limit", "1", *options, stdout=out)
    assert site.paths() == ["/notice.html", "/missing.html"]  # then the oldest
    text = out.getvalue()
    assert "1/1 URLs" in text and "1 URLs checked in" in text and "gone 1" in text
    call_command("check_sources", "--older-than", "1", *options, stdout=out)
    assert len(site.paths()) == 2  # both checked within a day


@pytest.mark.django_db
def test_the_plan_counts_urls_and_hosts_without_a_request(site: Site) -> None:
    make_notice(urlname="a", source_url=site.url("/notice.html"))
    make_notice(urlname="b", source_url=site.url("/missing.html"))
    make_notice(urlname="c", source_url="https://www.blgc.edu.cn/info/1.htm")
    out = StringIO()
    call_command("check_sources", "--plan", stdout=out)
    assert "3 notices with a source link: 3 distinct URLs on 2 hosts; 3 due" in out.getvalue()
    assert site.seen == []


def test_bad_options_are_a_clear_error() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="per_host"):
        call_command("check_sources", "--per-host", "0", "--plan")


# --- What readers see ------------------------------------------------------------------------


def dead(url: str = GONE_URL, outcome: str = Outcome.GONE) -> None:
    record([Result(url, outcome, status=404 if outcome == Outcome.GONE else None)], now=CHECKED)


@pytest.mark.django_db
def test_the_detail_page_says_the_original_is_gone_with_a_web_archive_link(client: Client) -> None:
    notice = make_notice(urlname="gone", source_url=GONE_URL + "?id=1&t=2#top")
    page = client.get(notice.get_absolute_url())
    assert "原文已失效" not in page.content.decode()  # not checked yet
    dead(GONE_URL + "?id=1&t=2#top")  # the check bumps the data version: a new page
    root = parse_html(client.get(notice.get_absolute_url()).content.decode())
    [aside] = [el for el in root.iter("aside") if "source-link" in el.get("class", "")]
    text = visible_text(aside)
    assert "查看原文" in text and "原文已失效（最后检查于 2026年11月30日）" in text
    assert "在网页档案馆查找" in text
    assert (
        "https://web.archive.org/web/*/https://www.blgc.edu.cn/info/1021/3456.htm?id=1&t=2%23top"
        in hrefs(aside)
    )


@pytest.mark.django_db
def test_an_ok_or_erroring_source_shows_no_note(client: Client) -> None:
    ok = make_notice(urlname="ok", source_url="https://www.blgc.edu.cn/ok.htm")
    failing = make_notice(urlname="failing", source_url="https://www.blgc.edu.cn/busy.htm")
    record([Result(ok.source_url, Outcome.OK, status=200)], now=CHECKED)
    for _ in range(3):
        record([Result(failing.source_url, Outcome.ERROR, status=503)])
    for notice in (ok, failing):
        body = client.get(notice.get_absolute_url()).content.decode()
        assert "原文已失效" not in body and "web.archive.org" not in body
        assert "查看原文" in body


@pytest.mark.django_db
def test_the_notice_json_carries_the_check(client: Client) -> None:
    notice = make_notice(urlname="gone", source_url=GONE_URL)
    url = notice.get_absolute_url() + "?format=json"
    assert client.get(url).json()["source_check"] is None
    dead()
    data = client.get(url).json()["source_check"]
    assert data == {
        "outcome": "gone", "gone": True, "checked_at": "2026-11-30T10:00:00+08:00",
        "status": 404, "final_url": "", "archive_url": "https://web.archive.org/web/*/" + GONE_URL,
    }  # fmt: skip


@pytest.mark.django_db
def test_lists_filter_by_gone_sources_with_a_chip_and_a_count(client: Client) -> None:
    make_notice(urlname="gone", title="已失效的通知", source_url=GONE_URL)
    make_notice(urlname="moved", title="跳转首页的通知", source_url="https://a.edu.cn/x/1.htm")
    make_notice(urlname="alive", title="仍在的通知", source_url="https://a.edu.cn/x/2.htm")
    make_notice(urlname="busy", title="服务器忙的通知", source_url="https://a.edu.cn/x/3.htm")
    dead()
    dead("https://a.edu.cn/x/1.htm", Outcome.MOVED_HOME)
    record([Result("https://a.edu.cn/x/2.htm", Outcome.OK, status=200)])
    record([Result("https://a.edu.cn/x/3.htm", Outcome.ERROR, status=503)])
    home = client.get("/").content.decode()
    assert "原文已失效" in home and "?source=gone" in home  # the facet offers it, counted
    root = parse_html(home)
    [facet] = [a for a in root.iter("a") if a.get("href") == "?source=gone"]
    assert facet.text == "原文已失效" and "原文已失效 2" in " ".join(visible_text(root).split())
    page = client.get("/", {"source": "gone"})
    text = visible_text(parse_html(page.content.decode()))
    assert "已失效的通知" in text and "跳转首页的通知" in text
    assert "仍在的通知" not in text and "服务器忙的通知" not in text
    assert "原文已失效" in text  # the chip
    data = client.get("/", {"source": "gone", "format": "json"}).json()
    assert data["count"] == 2 and data["filters"]["source"] == "gone"
    assert client.get("/", {"source": "maybe"}).status_code == 404


@pytest.mark.django_db
def test_search_and_feeds_take_the_source_filter(client: Client) -> None:
    make_notice(urlname="gone", title="已失效的寒假通知", source_url=GONE_URL)
    make_notice(urlname="alive", title="仍在的寒假通知", source_url="https://a.edu.cn/x/2.htm")
    dead()
    found = client.get(reverse("notices:search"), {"q": "寒假", "source": "gone"}).content
    links = hrefs(found.decode())
    assert any(link.startswith("/notices/gone/") for link in links)
    assert not any(link.startswith("/notices/alive/") for link in links)
    feed = client.get(reverse("notices:feed-atom"), {"source": "gone"}).content.decode()
    assert "已失效的寒假通知" in feed and "仍在的寒假通知" not in feed


@pytest.mark.django_db
def test_the_page_cache_keys_the_source_filter(client: Client, settings) -> None:
    settings.NOTICES_PAGE_CACHE = True
    make_notice(urlname="gone", title="已失效的通知", source_url=GONE_URL)
    make_notice(urlname="alive", title="仍在的通知", source_url="https://a.edu.cn/x/2.htm")
    dead()
    everything = client.get("/").content.decode()
    only_gone = client.get("/?source=gone").content.decode()
    assert "仍在的通知" in everything and "仍在的通知" not in only_gone
    # Stored pages, each under its own key.
    assert "仍在的通知" in client.get("/").content.decode()
    assert "仍在的通知" not in client.get("/?source=gone").content.decode()


@pytest.mark.django_db
def test_the_admin_lists_source_checks_and_filters_notices_by_gone_sources(client: Client) -> None:
    user = get_user_model().objects.create_superuser("editor", "e@blgc.edu.cn", "pw")
    client.force_login(user)
    notice = make_notice(urlname="gone", title="已失效的通知", source_url=GONE_URL)
    make_notice(urlname="alive", title="仍在的通知", source_url="https://a.edu.cn/x/2.htm")
    dead()
    record([Result("https://a.edu.cn/x/2.htm", Outcome.OK, status=200)])
    changelist = reverse("admin:notices_sourcecheck_changelist")
    page = client.get(changelist, {"outcome": "gone"}).content.decode()
    assert GONE_URL in page and "https://a.edu.cn/x/2.htm" not in page
    assert reverse("admin:notices_notice_change", args=[notice.pk]) in hrefs(page)
    page = client.get(changelist, {"dead": "yes"}).content.decode()
    assert GONE_URL in page and "https://a.edu.cn/x/2.htm" not in page
    page = client.get(changelist, {"q": "a.edu.cn"}).content.decode()
    assert GONE_URL not in page and "https://a.edu.cn/x/2.htm" in page
    row = SourceCheck.objects.get(url=GONE_URL)
    assert client.get(reverse("admin:notices_sourcecheck_change", args=[row.pk])).status_code == 200
    notices = client.get(reverse("admin:notices_notice_changelist"), {"source": "gone"})
    text = notices.content.decode()
    assert "已失效的通知" in text and "仍在的通知" not in text


@pytest.mark.django_db
def test_deleting_a_check_in_the_admin_updates_the_page(client: Client) -> None:
    user = get_user_model().objects.create_superuser("editor", "e@blgc.edu.cn", "pw")
    notice = make_notice(urlname="gone", source_url=GONE_URL)
    dead()
    assert "原文已失效" in client.get(notice.get_absolute_url()).content.decode()
    client.force_login(user)
    row = SourceCheck.objects.get()
    client.post(reverse("admin:notices_sourcecheck_delete", args=[row.pk]), {"post": "yes"})
    assert not SourceCheck.objects.exists()
    client.logout()
    assert "原文已失效" not in client.get(notice.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_each_batch_of_results_is_written_with_one_data_version_bump(site, monkeypatch) -> None:
    bumps = []

    def counted_bump():
        bumps.append(1)
        return bump_data_version()

    monkeypatch.setattr(linkcheck, "bump_data_version", counted_bump)
    before = bump_data_version()
    progress = []
    urls = [site.url(f"/busy/{n}") for n in range(7)]
    check_sources(urls, FAST, batch_size=3, progress=lambda report, total: progress.append(
        (report.checked, total)))  # fmt: skip
    assert len(bumps) == 3 and progress == [(3, 7), (6, 7), (7, 7)]
    assert bump_data_version().token != before.token


# --- In a browser ----------------------------------------------------------------------------

LONG_GONE_URL = (
    "https://yjsy.blgc.edu.cn/info/1021/2023_graduate_admission_retest_arrangements_"
    "notice_for_all_departments_and_candidates.htm?wbtreeid=1234&from=homepage"
)


@pytest.mark.browser
@skipUnless(CHROMIUM.exists(), "browser tests need Debian's Chromium at /usr/bin/chromium")
class SourceStatusBrowserTests(ChromiumTestCase):
    port = 0

    def setUp(self) -> None:
        self.notice = build_layout_archive()
        self.notice.source_url = LONG_GONE_URL
        self.notice.save()
        dead(LONG_GONE_URL)

    def test_the_gone_note_fits_a_phone_and_a_desktop(self) -> None:
        for width in (1280, 375):
            with self.subTest(width=width):
                _context, page = self.open_page(width)
                page.goto(self.live_server_url + self.notice.get_absolute_url())
                note = page.locator(".source-status")
                self.assertIn("原文已失效（最后检查于 2026年11月30日）", note.inner_text())
                self.assert_fits_width(page)
                box = page.locator(".source-link").bounding_box()
                for part in (".source-gone", ".source-archive"):
                    inner = page.locator(part).bounding_box()
                    self.assertLessEqual(inner["x"] + inner["width"], box["x"] + box["width"] + 0.5)
                # The note reads as a line or two, never a column of one character a line.
                gone = page.evaluate(
                    "(() => { const el = document.querySelector('.source-gone');"
                    " const line = parseFloat(getComputedStyle(el).lineHeight);"
                    " return Math.round(el.getBoundingClientRect().height / line); })()"
                )
                self.assertLessEqual(gone, 2)
                link = page.locator(".source-archive").bounding_box()
                self.assertGreaterEqual(link["width"], 100)
                page.screenshot(path=str(ARTIFACTS / f"source-gone-{width}.png"))  # first screen

    def test_the_gone_facet_leads_to_the_list_of_gone_originals(self) -> None:
        for width in (1280, 375):
            with self.subTest(width=width):
                _context, page = self.open_page(width)
                page.goto(self.live_server_url + "/")
                if width == 375:
                    page.locator(".filter-panel summary").click()  # the panel is shut on phones
                facet = page.locator(".facets a", has_text="原文已失效")
                self.assertEqual(facet.count(), 1)
                facet.click()
                page.wait_for_url("**/?source=gone")
                self.assertEqual(page.locator(".notice-item").count(), 1)
                self.assertIn("原文已失效", page.locator(".active-filters").inner_text())
                self.assert_fits_width(page)
                self.screenshot(page, f"source-gone-list-{width}")
