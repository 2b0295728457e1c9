"""Production settings, headers and the admin's defences (issue 6)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from notices.importing import import_archive
from notices.models import Notice
from tests.helpers import document_text, make_notice
from tests.scratch_database import listening_socket

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "notices.example.org",
    "HTTPS": "1",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


class DeployCheckTests(TestCase):
    @pytest.mark.slow
    def test_check_deploy_passes_with_production_settings(self) -> None:
        result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no issues", result.stdout)

    @pytest.mark.slow
    def test_check_deploy_fails_without_https_settings(self) -> None:
        result = manage(
            "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, "HTTPS": "0"}
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("SECURE_SSL_REDIRECT", result.stderr + result.stdout)

    def test_production_refuses_to_start_without_a_secret_key(self) -> None:
        result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": ""})
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("SECRET_KEY", result.stderr)


class HeaderTests(TestCase):
    def test_pages_send_the_security_headers(self) -> None:
        response = self.client.get(reverse("notices:list"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response["Referrer-Policy"], "same-origin")
        self.assertEqual(response["X-Frame-Options"], "DENY")
        policy = response["Content-Security-Policy"]
        self.assertIn("script-src 'self'", policy)
        self.assertIn("frame-ancestors 'none'", policy)
        self.assertNotIn("unsafe", policy)

    @override_settings(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31_536_000)
    def test_https_settings_redirect_and_send_hsts(self) -> None:
        response = self.client.get(reverse("notices:list"))
        self.assertEqual(response.status_code, 301)
        self.assertTrue(response["Location"].startswith("https://"))
        secure = self.client.get(reverse("notices:list"), secure=True)
        self.assertEqual(secure["Strict-Transport-Security"], "max-age=31536000")


# A fast hasher: these tests log in a dozen times (the real one takes ~0.5 s a try).
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class AdminDefenceTests(TestCase):
    def setUp(self) -> None:
        cache.clear()
        self.user = get_user_model().objects.create_superuser(
            "editor", "e@example.org", "right-pass-1"
        )
        self.login_url = reverse("admin:login")

    def tearDown(self) -> None:
        cache.clear()

    def attempt(self, password: str, address: str = "10.0.0.1"):
        return self.client.post(
            self.login_url, {"username": "editor", "password": password}, REMOTE_ADDR=address
        )

    def test_admin_pages_require_a_login(self) -> None:
        for url in [reverse("admin:index"), reverse("admin:notices_notice_changelist")]:
            response = self.client.get(url)
            self.assertEqual(response.status_code, 302)
            self.assertTrue(response["Location"].startswith(self.login_url))

    def test_the_login_form_needs_a_csrf_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        response = client.post(self.login_url, {"username": "editor", "password": "right-pass-1"})
        self.assertEqual(response.status_code, 403)

    def test_logins_are_paused_after_repeated_failures_from_one_address(self) -> None:
        for _ in range(settings.ADMIN_LOGIN_MAX_FAILURES):
            self.assertEqual(self.attempt("wrong").status_code, 200)
        blocked = self.attempt("right-pass-1")  # even the right password waits now
        self.assertEqual(blocked.status_code, 429)
        self.assertEqual(blocked["Retry-After"], str(settings.ADMIN_LOGIN_LOCKOUT_SECONDS))
        self.assertNotIn("_auth_user_id", self.client.session)
        # Another account from another address is not held back by these failures.
        get_user_model().objects.create_superuser("second", "s@example.org", "right-pass-2")
        other = self.client.post(
            self.login_url,
            {"username": "second", "password": "right-pass-2"},
            REMOTE_ADDR="10.0.0.2",
        )
        self.assertEqual(other.status_code, 302)

    def test_a_good_login_clears_the_failures(self) -> None:
        for _ in range(settings.ADMIN_LOGIN_MAX_FAILURES - 1):
            self.attempt("wrong")
        self.assertEqual(self.attempt("right-pass-1").status_code, 302)
        self.client.logout()
        for _ in range(settings.ADMIN_LOGIN_MAX_FAILURES - 1):
            self.assertEqual(self.attempt("wrong").status_code, 200)

    def test_an_import_never_creates_users_or_staff(self) -> None:
        users_before = get_user_model().objects.count()
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "staff.md").write_text(
                document_text(
                    urlname="staff",
                    extra_front_matter=(
                        "username: root\npassword: hunter2\nis_staff: true\n"
                        "is_superuser: true\nauthor: {username: admin, is_staff: true}"
                    ),
                ),
                "utf-8",
            )
            report = import_archive([Path(folder)])
        self.assertEqual(report.created, 1)
        self.assertEqual(get_user_model().objects.count(), users_before)
        self.assertFalse(get_user_model().objects.filter(username__in=["root", "admin"]).exists())
        # The keys are kept as the document's data, nothing more.
        self.assertEqual(Notice.objects.get(urlname="staff").extra["is_staff"], "true")


ORIGIN = "https://notices.example.org"
# Hosts ALLOWED_HOSTS lets in, spelled as the probe sent them (issue 11, finding 9).
CLIENT_HOSTS = ["127.0.0.1:6666", "LOCALHOST:9", "localhost."]


class SiteOriginTests(TestCase):
    """NOTICES_SITE_URL: absolute URLs name the configured origin, never the client's Host."""

    @classmethod
    def setUpTestData(cls) -> None:
        for n in range(2):
            notice = make_notice(urlname=f"origin-{n}")
            notice.tags.add("青岚大学")

    def pages(self) -> dict[str, str]:
        return {
            "json next": "/?format=json",
            "atom": "/atom.xml",
            "rss": "/rss.xml",
            "sitemap": "/sitemap.xml",
            "sitemap section": "/sitemap-notices.xml",
            "opensearch": "/opensearch.xml",
            "robots": "/robots.txt",
            "canonical": reverse("notices:detail", args=["origin-0"]),
        }

    @override_settings(NOTICES_SITE_URL=ORIGIN, NOTICES_PAGE_SIZE=1)
    def test_every_absolute_url_names_the_configured_origin(self) -> None:
        for host in CLIENT_HOSTS:
            for page, url in self.pages().items():
                with self.subTest(host=host, page=page):
                    cache.clear()
                    response = Client().get(url, HTTP_HOST=host)
                    self.assertEqual(response.status_code, 200)
                    text = response.content.decode()
                    self.assertIn(ORIGIN + "/", text)
                    for spelling in (host, host.lower(), "http://"):
                        self.assertNotIn(f"{spelling}/", text.replace(ORIGIN, ""))

    @override_settings(NOTICES_SITE_URL=ORIGIN)
    def test_hosts_outside_allowed_hosts_are_still_refused(self) -> None:
        self.assertEqual(Client().get("/robots.txt", HTTP_HOST="evil.example").status_code, 400)

    @override_settings(NOTICES_SITE_URL=ORIGIN, SECURE_SSL_REDIRECT=True)
    def test_the_https_redirect_still_sees_the_request_as_it_came(self) -> None:
        response = Client().get("/robots.txt", HTTP_HOST="localhost")
        self.assertEqual(response.status_code, 301)
        self.assertEqual(response["Location"], "https://localhost/robots.txt")

    @override_settings(NOTICES_SITE_URL=ORIGIN, ALLOWED_HOSTS=["notices.example.org"])
    def test_an_admin_login_from_the_site_origin_passes_the_csrf_check(self) -> None:
        client = Client(enforce_csrf_checks=True)
        form = client.get(reverse("admin:login"), HTTP_HOST="notices.example.org")
        token = form.cookies[settings.CSRF_COOKIE_NAME].value
        response = client.post(
            reverse("admin:login"),
            {"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token},
            HTTP_HOST="notices.example.org",
            HTTP_ORIGIN=ORIGIN,
        )
        self.assertEqual(response.status_code, 200)  # the form again: not a CSRF 403

    def test_unset_the_request_names_its_own_host(self) -> None:
        self.assertEqual(settings.NOTICES_SITE_URL, "")
        response = Client().get("/robots.txt", HTTP_HOST="localhost:8000")
        self.assertIn("Sitemap: http://localhost:8000/sitemap.xml", response.content.decode())

    @pytest.mark.slow
    def test_the_setting_is_an_origin(self) -> None:
        for value, expected in [
            ("https://Notices.Example.ORG./", "https://notices.example.org"),
            ("https://notices.example.org:443", "https://notices.example.org"),
            ("http://notices.example.org:8080", "http://notices.example.org:8080"),
        ]:
            with self.subTest(value=value):
                result = manage(
                    "shell",
                    "-c",
                    "from django.conf import settings; print(settings.NOTICES_SITE_URL)",
                    env={**PRODUCTION_ENV, "NOTICES_SITE_URL": value},
                )
                self.assertEqual(result.stdout.strip().splitlines()[-1], expected)
        refused = manage("check", env={**PRODUCTION_ENV, "NOTICES_SITE_URL": "notices.org/x"})
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("NOTICES_SITE_URL", refused.stderr)

    @pytest.mark.slow
    def test_check_deploy_passes_with_a_site_origin(self) -> None:
        result = manage(
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            env={**PRODUCTION_ENV, "NOTICES_SITE_URL": ORIGIN},
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


# A WSGI app that answers the scheme gunicorn gave the request.
SCHEME_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["wsgi.url_scheme"].encode()]
"""


GUNICORN_CONF = Path(settings.BASE_DIR) / "gunicorn.conf.py"


class GunicornForwardedHeaderTests(TestCase):
    """gunicorn trusts X-Forwarded-* only from FORWARDED_ALLOW_IPS (issue 11, finding 9)."""

    def scheme_seen(self, env: dict[str, str]) -> str:
        import urllib.request

        with tempfile.TemporaryDirectory() as folder, listening_socket() as sock:
            Path(folder, "scheme_app.py").write_text(SCHEME_APP, "utf-8")
            environment = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
            environment.update(env, GUNICORN_BIND=f"fd://{sock.fileno()}", WEB_CONCURRENCY="1")
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--chdir", folder,
                 "scheme_app:app"],
                env=environment, pass_fds=[sock.fileno()],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                # The socket already listens: the request waits in its queue until gunicorn
                # has started and accepts it, so there is nothing to poll for.
                request = urllib.request.Request(
                    f"http://127.0.0.1:{sock.getsockname()[1]}/",
                    headers={"X-Forwarded-Proto": "https"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.read().decode()
            finally:
                server.terminate()
                server.wait(timeout=30)

    def test_forwarded_headers_are_not_trusted_by_default(self) -> None:
        self.assertEqual(self.scheme_seen({}), "http")

    def test_forwarded_headers_are_trusted_from_the_addresses_given(self) -> None:
        self.assertEqual(self.scheme_seen({"FORWARDED_ALLOW_IPS": "127.0.0.1"}), "https")
