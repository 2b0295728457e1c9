"""The admin login throttle (issue 11, finding 5): counts shared by every worker, kept by
address and by username, and never cleared by another account's good login."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from tests.test_security_settings import PRODUCTION_ENV, manage

LIMIT = settings.ADMIN_LOGIN_MAX_FAILURES


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class ThrottleTests(TestCase):
    def setUp(self) -> None:
        caches["throttle"].clear()
        users = get_user_model().objects
        users.create_superuser("victim", "v@example.org", "victim-pass-1")
        users.create_superuser("insider", "i@example.org", "insider-pass-1")
        self.login_url = reverse("admin:login")

    def attempt(self, username: str, password: str, address: str = "10.0.0.1") -> int:
        response = self.client.post(
            self.login_url, {"username": username, "password": password}, REMOTE_ADDR=address
        )
        self.client.logout()
        return response.status_code

    def test_failures_are_counted_in_the_database_every_worker_reads(self) -> None:
        # Without Redis each worker's memory counted alone (16 of 30 guesses served at limit 5).
        self.assertEqual(
            settings.CACHES["throttle"]["BACKEND"], "django.core.cache.backends.db.DatabaseCache"
        )
        self.assertEqual(self.attempt("victim", "wrong"), 200)
        table = connection.ops.quote_name(settings.CACHES["throttle"]["LOCATION"])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (our own setting)
            (rows,) = cursor.fetchone()
        self.assertEqual(rows, 2)  # one failure: one slot for the address, one for the name

    def test_another_accounts_good_login_does_not_clear_the_count(self) -> None:
        # The probe: guesses at `victim` with the insider's own good login between rounds.
        answers = []
        for _round in range(6):
            answers += [self.attempt("victim", f"guess-{n}") for n in range(4)]
            answers.append(self.attempt("insider", "insider-pass-1"))
        guesses_served = [code for code in answers if code == 200]
        self.assertEqual(len(guesses_served), LIMIT)
        self.assertIn(429, answers)
        self.assertEqual(self.attempt("victim", "victim-pass-1"), 429)

    def test_one_username_from_many_addresses_is_locked(self) -> None:
        for n in range(LIMIT):
            self.assertEqual(self.attempt("victim", "wrong", address=f"10.0.1.{n}"), 200)
        self.assertEqual(self.attempt("victim", "victim-pass-1", address="10.0.2.1"), 429)
        self.assertEqual(self.attempt("VICTIM ", "wrong", address="10.0.2.2"), 429)
        # Other accounts, from a fresh address, are not held back.
        self.assertEqual(self.attempt("insider", "insider-pass-1", address="10.0.2.1"), 302)

    def test_one_address_is_locked_for_every_username(self) -> None:
        for n in range(LIMIT):
            self.assertEqual(self.attempt(f"made-up-{n}", "wrong"), 200)
        self.assertEqual(self.attempt("insider", "insider-pass-1"), 429)
        self.assertEqual(self.attempt("insider", "insider-pass-1", address="10.0.0.9"), 302)

    def test_a_good_login_clears_only_its_own_failures(self) -> None:
        for _ in range(2):
            self.attempt("victim", "wrong")
        for _ in range(2):
            self.attempt("insider", "wrong")
        self.assertEqual(self.attempt("insider", "insider-pass-1"), 302)
        # The address keeps the victim's two failures: three more reach the limit.
        for _ in range(LIMIT - 2):
            self.assertEqual(self.attempt("victim", "wrong"), 200)
        self.assertEqual(self.attempt("victim", "victim-pass-1"), 429)

    def test_a_refused_attempt_is_not_counted_as_a_failure(self) -> None:
        for n in range(LIMIT):
            self.attempt("victim", "wrong", address=f"10.0.3.{n}")
        for _ in range(3):
            self.assertEqual(self.attempt("victim", "wrong", address="10.0.4.1"), 429)
        # 10.0.4.1 took no slot for its refused tries: another user from it gets in.
        self.assertEqual(self.attempt("insider", "insider-pass-1", address="10.0.4.1"), 302)

    def test_a_post_refused_by_the_csrf_check_is_not_a_failure(self) -> None:
        client = Client(enforce_csrf_checks=True)
        for _ in range(LIMIT + 2):
            response = client.post(
                self.login_url, {"username": "victim", "password": "x"}, REMOTE_ADDR="10.0.0.1"
            )
            self.assertEqual(response.status_code, 403)
        self.assertEqual(self.attempt("victim", "victim-pass-1"), 302)

    def test_the_migration_makes_a_table_the_throttle_can_count_in(self) -> None:
        # Django's test database gets every cache table anyway: run the migration's step for
        # a table of another name, then count in it as the throttle does.
        migration = importlib.import_module("notices.migrations.0008_throttle_cache_table")
        throttle = {**settings.CACHES["throttle"], "LOCATION": "throttle_table_probe"}
        with override_settings(CACHES={**settings.CACHES, "throttle": throttle}):
            migration.create_throttle_cache_table(None, SimpleNamespace(connection=connection))
        counter = DatabaseCache("throttle_table_probe", {})
        counter.set("failures:10.0.0.1", 1)
        counter.incr("failures:10.0.0.1")
        self.assertEqual(counter.get("failures:10.0.0.1"), 2)
        # With Redis the step makes no table (the counts live in Redis).
        tables = set(connection.introspection.table_names())
        redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "r"}
        with override_settings(CACHES={**settings.CACHES, "throttle": redis}):
            migration.create_throttle_cache_table(None, SimpleNamespace(connection=connection))
        self.assertEqual(set(connection.introspection.table_names()), tables)


class ThrottleWithRedisTests(TestCase):
    @pytest.mark.slow
    def test_with_redis_the_throttle_counts_in_redis(self) -> None:
        result = manage(
            "shell",
            "-c",
            "from django.conf import settings; print(settings.CACHES['throttle']['BACKEND'])",
            env={**PRODUCTION_ENV, "REDIS_URL": "redis://127.0.0.1:6399/0"},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.strip().splitlines()[-1], "django.core.cache.backends.redis.RedisCache"
        )
