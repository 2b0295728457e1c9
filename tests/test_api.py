"""The API (issue 12): JSON of every endpoint checked against docs/openapi.yaml, JSON errors,
one notice's JSON, CSV of every list and search, schemathesis over the description, and the
README's curl examples run as written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shlex
from collections.abc import Iterator
from functools import cache
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import jsonschema_rs
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.cache import caches
from django.core.wsgi import get_wsgi_application
from django.db import OperationalError, close_old_connections, connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings

from notices import serializers
from notices.importing import import_archive
from notices.models import OldAddress
from notices.serializers import CSV_COLUMNS
from tests.test_views_reading import add_notice, build_reading_archive, when

SPEC_PATH = settings.BASE_DIR / "docs" / "openapi.yaml"
README_PATH = settings.BASE_DIR / "README.md"


@cache
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def response_schema(path: str, status: str = "200", media: str = "application/json") -> dict:
    """The schema the description gives for a GET of `path` answering `status`."""
    response = spec()["paths"][path]["get"]["responses"][status]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"][media]["schema"]


def assert_matches(data: Any, schema: dict) -> None:
    # The schema's $refs point into the description's components: give it them as its root.
    validator = jsonschema_rs.validator_for(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
         "components": spec()["components"]},
        validate_formats=True,
    )  # fmt: skip
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors[:5]


def read_csv(response) -> list[dict[str, str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = content.decode("utf-8")
    assert text.startswith("\ufeff"), "no BOM: Excel would read the file as ANSI"
    return list(csv.DictReader(io.StringIO(text[1:])))


class ApiTestCase(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.notices = build_reading_archive()
        exam = cls.notices["exam"]
        exam.updated = when(2022, 7, 1)
        exam.extra = {"author": "教务处", "cover": "/images/exam.png", "weight": 3}
        exam.save()
        OldAddress.objects.create(path="2022/06/20/exam.html", notice=exam)

    def get_json(self, url: str, status: int = 200, **params: Any) -> Any:
        response = self.client.get(url, {**params, "format": "json"})
        self.assertEqual(response.status_code, status, response.content[:300])
        self.assertEqual(response["Content-Type"], "application/json")
        return json.loads(response.content)


class SchemaTests(ApiTestCase):
    """Each JSON endpoint answers what docs/openapi.yaml says, on real data."""

    def test_every_list_matches_the_description(self) -> None:
        lists = [
            ("/", reverse("notices:list"), {"tag": "通知", "since": "2022-01-01"}),
            ("/categories/{path}/", reverse("notices:category", args=["blgc-edu-cn"]), {}),
            ("/tags/{slug}/", reverse("notices:tag", args=["研究生"]), {}),
            ("/sites/{site}/", reverse("notices:site", args=["北岭工程大学"]), {}),
            ("/archive/{year}/", reverse("notices:archive-year", args=[2023]), {}),
            ("/archive/{year}/{month}/", reverse("notices:archive-month", args=[2023, 3]), {}),
        ]
        for template, url, params in lists:
            with self.subTest(url=url):
                data = self.get_json(url, **params)
                self.assertTrue(data["results"])
                assert_matches(data, response_schema(template))

    def test_search_matches_the_description(self) -> None:
        data = self.get_json(reverse("notices:search"), q="答辩", site="北岭工程大学")
        self.assertEqual([hit["urlname"] for hit in data["results"]], ["defence-2023"])
        self.assertIn("<mark>", data["results"][0]["title_html"])
        assert_matches(data, response_schema("/search/"))

    def test_indexes_and_a_notice_match_the_description(self) -> None:
        for template, url in [
            ("/categories/", reverse("notices:categories")),
            ("/tags/", reverse("notices:tags")),
            ("/sites/", reverse("notices:sites")),
            ("/archive/", reverse("notices:archive")),
            ("/notices/{urlname}/", self.notices["exam"].get_absolute_url()),
            ("/facets/{facet}/", reverse("notices:facet", args=["tags"]) + "?site=北岭工程大学"),
            ("/facets/{facet}/", reverse("notices:facet", args=["months"]) + "?year=2023&q=通知"),
        ]:
            with self.subTest(url=url):
                assert_matches(self.get_json(url), response_schema(template))

    def test_errors_match_the_description(self) -> None:
        data = self.get_json(reverse("notices:tag", args=["没有这个标签"]), status=404)
        assert_matches(data, response_schema("/tags/{slug}/", "404"))

    def test_the_description_is_served_and_names_every_json_route(self) -> None:
        response = self.client.get(reverse("notices:openapi"))
        self.assertEqual(response["Content-Type"], "application/yaml; charset=utf-8")
        self.assertEqual(yaml.safe_load(response.content), spec())
        self.assertEqual(spec()["openapi"], "3.1.0")
        # Every route that answers format=json is described (a new list or index must be).
        json_routes = {
            "list": "/", "category": "/categories/{path}/", "tag": "/tags/{slug}/",
            "site": "/sites/{site}/", "archive-year": "/archive/{year}/",
            "archive-month": "/archive/{year}/{month}/", "search": "/search/",
            "detail": "/notices/{urlname}/", "categories": "/categories/", "tags": "/tags/",
            "sites": "/sites/", "archive": "/archive/", "facet": "/facets/{facet}/",
            "deadlines": "/deadlines/",
        }  # fmt: skip
        # Feeds, redirects and files for robots and browsers answer no JSON.
        other = {name for name in _route_names() if name.endswith(("-atom", "-rss"))} | {
            "post", "sitemap", "sitemap-section", "robots", "favicon", "opensearch", "openapi",
        }  # fmt: skip
        self.assertEqual(_route_names() - other, set(json_routes), "a new route: describe it")
        self.assertLessEqual(set(json_routes.values()), set(spec()["paths"]))


def _route_names() -> set[str]:
    from notices.urls import urlpatterns

    return {pattern.name for pattern in urlpatterns}


class NoticeJsonTests(ApiTestCase):
    def test_a_notice_gives_every_field(self) -> None:
        exam = self.notices["exam"]
        data = self.get_json(exam.get_absolute_url())
        self.assertEqual(data["urlname"], "exam-2022")
        self.assertEqual(data["title"], "关于期末考试安排的通知")
        self.assertEqual(data["url"], "http://testserver/notices/exam-2022/")
        self.assertEqual(data["date"], "2022-06-20T09:00:00+08:00")
        self.assertEqual(data["updated"], "2022-07-01T09:00:00+08:00")
        self.assertEqual(data["date_source"], "front_matter")
        self.assertEqual(data["site"], "青岚大学")
        self.assertEqual(data["source_url"], exam.source_url)
        self.assertEqual(data["body"], exam.body)  # the Markdown as stored
        self.assertIn("<p>现将寒假安排通知如下。</p>", data["body_html"])
        self.assertEqual(data["summary"], exam.summary)
        self.assertEqual(
            data["extra"], {"author": "教务处", "cover": "/images/exam.png", "weight": 3}
        )
        self.assertEqual(data["old_addresses"], ["/2022/06/20/exam.html"])
        self.assertEqual([c["path"] for c in data["categories"]], ["qinglan-edu-cn/青岚大学"])
        self.assertEqual([c["label"] for c in data["categories"]], ["青岚大学"])
        self.assertEqual([t["name"] for t in data["tags"]], ["考试", "通知"])

    def test_a_notice_without_updated_gives_null(self) -> None:
        data = self.get_json(self.notices["winter"].get_absolute_url())
        self.assertIsNone(data["updated"])
        self.assertEqual(data["extra"], {})
        self.assertEqual(data["old_addresses"], [])

    def test_the_json_has_its_own_etag_and_answers_304_to_it(self) -> None:
        url = self.notices["exam"].get_absolute_url()
        html = self.client.get(url)
        as_json = self.client.get(url, {"format": "json"})
        self.assertNotEqual(html["ETag"], as_json["ETag"])
        again = self.client.get(url, {"format": "json"}, headers={"if-none-match": as_json["ETag"]})
        self.assertEqual(again.status_code, 304)
        # The HTML's tag does not validate the JSON (a cache would serve the wrong body).
        other = self.client.get(url, {"format": "json"}, headers={"if-none-match": html["ETag"]})
        self.assertEqual(other.status_code, 200)
        self.assertIn("Accept-Language", as_json["Vary"])

    def test_a_missing_notice_is_a_json_404(self) -> None:
        data = self.get_json(reverse("notices:detail", args=["no-such-notice"]), status=404)
        self.assertEqual(data["status"], 404)


class FiltersJsonTests(ApiTestCase):
    def test_filters_include_the_date_range(self) -> None:
        data = self.get_json(reverse("notices:list"), since="2023-03-01", until="2023-03-29")
        self.assertEqual(data["filters"]["since"], "2023-03-01")
        self.assertEqual(data["filters"]["until"], "2023-03-29")
        self.assertEqual(
            [n["urlname"] for n in data["results"]], ["defence-2023", "admission-2023"]
        )

    def test_filters_without_a_range_give_nulls(self) -> None:
        data = self.get_json(reverse("notices:tag", args=["寒假"]))
        self.assertEqual(
            data["filters"],
            {"category": None, "tags": ["寒假"], "site": None, "year": None, "month": None,
             "since": None, "until": None, "attachments": False, "source": None,
             "all": False},
        )  # fmt: skip


class JsonErrorTests(ApiTestCase):
    def assert_json_error(self, response, status: int) -> dict[str, Any]:
        self.assertEqual(response.status_code, status)
        self.assertEqual(response["Content-Type"], "application/json")
        data = json.loads(response.content)
        self.assertEqual(data["status"], status)
        self.assertTrue(data["error"] and data["message"])
        assert_matches(data, spec()["components"]["schemas"]["Error"])
        return data

    def test_not_found_is_json_for_format_json(self) -> None:
        response = self.client.get("/no/such/page/", {"format": "json"})
        data = self.assert_json_error(response, 404)
        self.assertEqual(data["error"], "Not Found")
        # The resolver's own message lists the URL patterns: never shown.
        self.assertEqual(data["message"], "There is no page at this address.")

    def test_a_views_reason_is_the_message(self) -> None:
        response = self.client.get(reverse("notices:list"), {"format": "csv", "site": "无此站"})
        self.assertEqual(self.assert_json_error(response, 404)["message"], "No such site.")

    def test_accept_json_gets_json_and_a_browser_gets_the_page(self) -> None:
        json_first = self.client.get("/no/such/page/", headers={"accept": "application/json"})
        self.assert_json_error(json_first, 404)
        self.assertIn("Accept", json_first["Vary"])
        browser = self.client.get(
            "/no/such/page/",
            headers={"accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8"},
        )
        self.assertEqual(browser.status_code, 404)
        self.assertContains(browser, "找不到这个页面", status_code=404)
        self.assertIn("Accept", browser["Vary"])  # a cache must not give it to the JSON client
        plain = self.client.get("/no/such/page/")  # curl's */*
        self.assertContains(plain, "找不到这个页面", status_code=404)

    def test_a_bad_request_is_json(self) -> None:
        response = self.client.get(
            reverse("notices:list"), {"format": "json"}, HTTP_HOST="evil.example"
        )
        data = self.assert_json_error(response, 400)
        self.assertNotIn("evil.example", data["message"])

    def test_too_many_parameters_is_a_json_400(self) -> None:
        junk = "&".join(f"x{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
        response = self.client.get(f"{reverse('notices:list')}?{junk}&format=json")
        self.assert_json_error(response, 400)
        page = self.client.get(f"{reverse('notices:list')}?{junk}")
        self.assertEqual(page.status_code, 400)
        self.assertEqual(page["Content-Type"], "text/html; charset=utf-8")

    def test_a_server_error_is_json(self) -> None:
        self.client.raise_request_exception = False
        with mock.patch("notices.views.render_notice_list", side_effect=RuntimeError("boom")):
            response = self.client.get(reverse("notices:list"), {"format": "json"})
        data = self.assert_json_error(response, 500)
        self.assertNotIn("boom", data["message"])

    def test_a_lost_database_is_a_json_503(self) -> None:
        error = OperationalError("server closed the connection unexpectedly")
        with mock.patch("notices.views.paginate", side_effect=error):
            response = self.client.get(reverse("notices:list"), {"format": "json"})
        self.assert_json_error(response, 503)
        self.assertEqual(response["Retry-After"], "30")

    @override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    def test_the_login_throttle_is_json_to_a_json_client(self) -> None:
        caches["throttle"].clear()
        get_user_model().objects.create_superuser("editor", "e@example.org", "right-pass-1")
        url = reverse("admin:login")
        for _ in range(settings.ADMIN_LOGIN_MAX_FAILURES):
            self.client.post(url, {"username": "editor", "password": "wrong"})
        response = self.client.post(
            url, {"username": "editor", "password": "wrong"}, headers={"accept": "application/json"}
        )
        self.assert_json_error(response, 429)
        self.assertEqual(response["Retry-After"], str(settings.ADMIN_LOGIN_LOCKOUT_SECONDS))


class CsvTests(ApiTestCase):
    def get_csv(self, url: str, **params: Any):
        response = self.client.get(url, {**params, "format": "csv"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "text/csv; charset=utf-8")
        return response

    def test_every_list_and_search_answers_csv(self) -> None:
        for url, params, expected in [
            (reverse("notices:list"), {}, 6),
            (reverse("notices:category", args=["blgc-edu-cn"]), {}, 3),
            (reverse("notices:tag", args=["研究生"]), {}, 2),
            (reverse("notices:site", args=["青岚大学"]), {}, 3),
            (reverse("notices:archive-year", args=[2022]), {}, 2),
            (reverse("notices:archive-month", args=[2023, 3]), {}, 3),
            (reverse("notices:search"), {"q": "通知"}, 6),
        ]:
            with self.subTest(url=url):
                response = self.get_csv(url, **params)
                self.assertRegex(
                    response["Content-Disposition"], r'^attachment; filename="\w+\.csv"$'
                )
                rows = read_csv(response)
                self.assertEqual(len(rows), expected)
                self.assertEqual(tuple(rows[0]), CSV_COLUMNS)

    def test_a_row_holds_the_notice(self) -> None:
        rows = read_csv(self.get_csv(reverse("notices:tag", args=["招生"])))
        self.assertEqual(
            rows,
            [{
                "urlname": "admission-2023", "title": "2023年硕士研究生招生简章",
                "date": "2023-03-05T09:00:00+08:00", "site": "北岭工程大学",
                "domain": "blgc.edu.cn",
                "categories": "blgc-edu-cn/北岭工程大学/研究生院",
                "tags": "招生; 研究生; 通知",
                "source_url": "https://yzb.blgc.edu.cn/2023/0305/c1234a5678/page.htm",
                "url": "http://testserver/notices/admission-2023/",
                "summary": self.notices["admission"].summary,
            }],
        )  # fmt: skip

    def test_cells_that_a_spreadsheet_would_run_are_escaped(self) -> None:
        for index, title in enumerate(
            ['=HYPERLINK("http://x.example","点")', "+1", "-1", "@SUM(A1)"]
        ):
            add_notice(f"formula-{index}", title, when(2024, 1, 1 + index), tags=("公式",))
        rows = read_csv(self.get_csv(reverse("notices:tag", args=["公式"])))
        self.assertEqual(
            [row["title"] for row in rows],
            ["'@SUM(A1)", "'-1", "'+1", '\'=HYPERLINK("http://x.example","点")'],
        )

    def test_the_current_page_or_every_match_streamed(self) -> None:
        for index in range(25):
            add_notice(
                f"bulk-{index}", f"第{index}号通知", when(2024, 2, 1 + index), tags=("批量",)
            )
        url = reverse("notices:tag", args=["批量"])
        first = read_csv(self.get_csv(url))
        self.assertEqual(len(first), settings.NOTICES_PAGE_SIZE)
        second = self.get_csv(url, page="2")
        self.assertIn('filename="notices-page-2.csv"', second["Content-Disposition"])
        self.assertEqual(len(read_csv(second)), 5)
        everything = self.get_csv(url, all="1")
        self.assertTrue(everything.streaming)
        self.assertIn('filename="notices-all.csv"', everything["Content-Disposition"])
        rows = read_csv(everything)
        self.assertEqual([row["urlname"] for row in rows], [f"bulk-{i}" for i in range(24, -1, -1)])

    def test_streaming_stops_at_the_bound(self) -> None:
        for index in range(7):
            add_notice(
                f"bound-{index}", f"第{index}号公告", when(2024, 3, 1 + index), tags=("上限",)
            )
        with (
            mock.patch.object(serializers, "CSV_MAX_ROWS", 5),
            mock.patch.object(serializers, "CSV_CHUNK_ROWS", 2),
        ):
            listed = read_csv(self.get_csv(reverse("notices:tag", args=["上限"]), all="1"))
            found = read_csv(self.get_csv(reverse("notices:search"), q="公告", all="1"))
        self.assertEqual(len(listed), 5)
        self.assertEqual(len(found), 5)

    def test_search_streams_every_match_by_date(self) -> None:
        search = reverse("notices:search")
        oldest = read_csv(self.get_csv(search, q="2023", sort="oldest", all="1"))
        expected = ["admission-2023", "defence-2023", "holiday-2023", "winter-2023"]
        self.assertEqual([row["urlname"] for row in oldest], expected)
        # Relevance ranks by loading every match: the whole export is newest first instead.
        best = read_csv(self.get_csv(search, q="2023", all="1"))
        self.assertEqual([row["urlname"] for row in best], expected[::-1])
        self.assertEqual(read_csv(self.get_csv(search, all="1")), [])  # no query, no rows

    def test_a_row_links_to_the_notice_as_the_page_does(self) -> None:
        odd = add_notice("通知 #1?a=b&c%", "地址里有空格", when(2024, 5, 1), tags=("地址",))
        rows = read_csv(self.get_csv(reverse("notices:tag", args=["地址"]), all="1"))
        self.assertEqual(rows[0]["url"], "http://testserver" + odd.get_absolute_url())

    def test_lists_and_search_link_to_their_csv(self) -> None:
        page = self.client.get(reverse("notices:tag", args=["通知"]), {"year": "2023"})
        self.assertContains(page, 'href="?year=2023&amp;format=csv"')
        found = self.client.get(reverse("notices:search"), {"q": "通知"})
        self.assertContains(found, 'href="?q=%E9%80%9A%E7%9F%A5&amp;format=csv"')


class ApiQueryCountTests(ApiTestCase):
    """Count queries, add rows, expect the same count (as tests/test_views_reading.py)."""

    def count_queries(self, url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = self.client.get(url)
            if response.streaming:
                b"".join(response.streaming_content)
        self.assertEqual(response.status_code, 200, url)
        return len(captured)

    def test_csv_and_notice_json_queries_do_not_grow_with_rows(self) -> None:
        urls = [
            reverse("notices:list") + "?format=csv",
            reverse("notices:list") + "?format=csv&all=1",
            reverse("notices:search") + "?q=%E9%80%9A%E7%9F%A5&format=csv",
            self.notices["exam"].get_absolute_url() + "?format=json",
        ]
        before = [self.count_queries(url) for url in urls]
        for index in range(12):
            add_notice(
                f"more-{index}", f"第{index}号通知", when(2021, 1 + index, 1),
                categories=("blgc.edu.cn", f"学院{index}"), tags=("通知", f"标签{index}"),
            )  # fmt: skip
        self.assertEqual([self.count_queries(url) for url in urls], before)


@contextlib.contextmanager
def connection_kept() -> Iterator[None]:
    """Requests sent to the WSGI app close the database connection when they end, which would
    end the test's transaction; Django's test client keeps it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


class SchemathesisTests(ApiTestCase):
    """Generated requests for every described operation, sent to the WSGI app in-process:
    no 500, and every answer's status, content type and body as described. Seeded and
    bounded (a few seconds)."""

    EXAMPLES_PER_OPERATION = 12
    KNOWN_PATH_PARAMETERS = {
        "/categories/{path}/": {"path": "blgc-edu-cn"},
        "/tags/{slug}/": {"slug": "通知"},
        "/sites/{site}/": {"site": "北岭工程大学"},
        "/archive/{year}/": {"year": 2023},
        "/archive/{year}/{month}/": {"year": 2023, "month": 3},
        "/notices/{urlname}/": {"urlname": "exam-2022"},
        "/facets/{facet}/": {"facet": "tags"},
    }

    def test_generated_requests_get_described_answers(self) -> None:
        import schemathesis
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import (
            content_type_conformance,
            response_schema_conformance,
            status_code_conformance,
        )

        checks = [
            not_a_server_error, status_code_conformance, content_type_conformance,
            response_schema_conformance,
        ]  # fmt: skip
        answered: set[tuple[str, int]] = set()
        with connection_kept():
            schema = schemathesis.openapi.from_wsgi(
                reverse("notices:openapi"), get_wsgi_application()
            )
            operations = [result.ok() for result in schema.get_all_operations()]
            self.assertGreaterEqual(len(operations), 12)
            for operation in operations:
                # Made-up names (404s), and the fixtures' own with generated filters (200s).
                strategies = [operation.as_strategy()]
                if operation.path in self.KNOWN_PATH_PARAMETERS:
                    known = self.KNOWN_PATH_PARAMETERS[operation.path]
                    strategies.append(operation.as_strategy(path_parameters=known))
                for strategy in strategies:
                    with self.subTest(operation=operation.label):
                        self.run_cases(operation.label, strategy, checks, answered)
        answered_200 = {label for label, status in answered if status == 200}
        self.assertEqual(answered_200, {op.label for op in operations}, sorted(answered))

    def run_cases(self, label: str, strategy, checks: list, answered: set) -> None:
        @seed(12)
        @hypothesis_settings(
            max_examples=self.EXAMPLES_PER_OPERATION, deadline=None, database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )  # fmt: skip
        @given(case=strategy)
        def check(case) -> None:
            response = case.call()
            case.validate_response(response, checks=checks)
            answered.add((label, response.status_code))

        check()


class ReadmeExampleTests(TestCase):
    """The README's curl lines, run through the test client as curl would send them, against
    the sample archive that `make run` serves."""

    @classmethod
    def setUpTestData(cls) -> None:
        report = import_archive([settings.BASE_DIR / "archive"])
        assert not report.errors, report.errors

    def curl_lines(self) -> list[str]:
        text = README_PATH.read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
        self.assertGreaterEqual(len(lines), 5)
        return lines

    def as_request(self, line: str) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
        """The path, query pairs and headers curl would send for `line`."""
        words = shlex.split(line)[1:]
        url, query, headers, get = None, [], {}, False
        while words:
            word = words.pop(0)
            if word == "-G":
                get = True
            elif word in ("-d", "--data", "--data-urlencode"):
                query += (
                    parse_qsl(words.pop(0))
                    if word != "--data-urlencode"
                    else [tuple(words.pop(0).split("=", 1))]
                )
            elif word in ("-H", "--header"):
                name, value = words.pop(0).split(":", 1)
                headers[name.strip().lower()] = value.strip()
            elif word in ("-i", "-s", "-sS", "--compressed"):
                continue
            else:
                self.assertIsNone(url, f"two URLs in {line!r}")
                url = word
        self.assertIsNotNone(url, line)
        self.assertTrue(get or not query, f"data without -G would be a POST: {line!r}")
        # A raw non-ASCII URL is refused by the servers (400): it must be percent-encoded.
        self.assertTrue(url.isascii(), f"raw non-ASCII in the URL: {line!r}")
        parts = urlsplit(url)
        self.assertEqual(parts.netloc, "127.0.0.1:8000")
        return parts.path, parse_qsl(parts.query) + query, headers

    def test_every_curl_example_works_as_pasted(self) -> None:
        for line in self.curl_lines():
            with self.subTest(line=line):
                path, query, headers = self.as_request(line)
                params: dict[str, list[str]] = {}
                for key, value in query:
                    params.setdefault(key, []).append(value)
                response = self.client.get(path, params, headers=headers, follow=True)
                self.assertEqual(response.status_code, 200)
                self.assertRegex(
                    response["Content-Type"], r"^(application/json|text/csv|application/yaml)"
                )
                if response["Content-Type"] == "application/json":
                    data = json.loads(response.content)
                    if "results" in data:
                        self.assertTrue(data["results"], "an example that finds nothing")


def test_the_readme_has_an_api_section_linking_the_description() -> None:
    text = README_PATH.read_text(encoding="utf-8")
    section = re.search(r"^## API\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "no API section"
    assert "/api/openapi.yaml" in section.group(1)
    assert "curl -G --data-urlencode" in section.group(1)
