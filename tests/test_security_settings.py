"""Production settings, headers and the admin's defences (issue 6)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from notices.importing import import_archive
from notices.models import Notice
from tests.helpers import document_text

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
    def test_check_deploy_passes_with_production_settings(self) -> None:
        result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no issues", result.stdout)

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
