from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock, skipUnless

from django.core.cache import cache
from django.db import connection, transaction
from django.test import TestCase, TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notices.caching import bump_data_version, cached, current_version
from notices.importing import import_archive
from notices.models import DataVersion, Notice
from sample import generate_document
from tests.helpers import make_notice, write_files


def write_generated(root: Path, indexes: range) -> list[str]:
    """Write generated documents; return their urlnames."""
    documents = dict(generate_document(index, seed=5) for index in indexes)
    write_files(root, documents)
    return [Path(relative).stem for relative in documents]


class FreshAfterWritesTests(TestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self.root = Path(self._tmp.name)

    def tearDown(self) -> None:
        self._tmp.cleanup()

    def list_page(self, **params) -> dict:
        response = self.client.get(reverse("notices:list"), params)
        self.assertEqual(response.status_code, 200)
        return {
            "count": response.context["page"].paginator.count,
            "html": response.content.decode(),
        }

    def test_an_import_is_visible_at_once_on_cached_pages(self) -> None:
        write_generated(self.root, range(0, 4))
        import_archive([self.root])
        self.assertEqual(self.list_page()["count"], 4)
        self.list_page()  # now served from the cache
        added = write_generated(self.root, range(4, 30))
        import_archive([self.root])
        page = self.list_page()
        self.assertEqual(page["count"], 30)
        newest = Notice.objects.order_by("-date", "-id").first()
        self.assertIn(newest.urlname, added)
        self.assertIn(newest.get_absolute_url(), page["html"])

    def test_a_long_import_renews_the_version_after_its_last_batch(self) -> None:
        write_generated(self.root, range(0, 3))
        import_archive([self.root])
        self.list_page()
        write_generated(self.root, range(3, 12))
        # Batches in between do not renew it (CACHE_BUMP_SECONDS); the end of the run does.
        with mock.patch("notices.importing.CACHE_BUMP_SECONDS", 3600):
            import_archive([self.root], batch_size=2)
        self.assertEqual(self.list_page()["count"], 12)

    def test_a_cached_feed_shows_new_notices_at_once(self) -> None:
        make_notice(title="第一条通知")
        url = reverse("notices:feed-atom")
        first = self.client.get(url)
        self.assertEqual(self.client.get(url).content, first.content)
        self.assertEqual(self.client.get(url)["Content-Type"], first["Content-Type"])
        make_notice(title="第二条通知", urlname="second")
        self.assertIn("第二条通知", self.client.get(url).content.decode())

    def test_an_edit_through_the_orm_is_visible_at_once(self) -> None:
        notice = make_notice(title="旧标题")
        self.assertIn("旧标题", self.list_page()["html"])
        notice.title = "新标题"
        notice.save()
        html = self.list_page()["html"]
        self.assertIn("新标题", html)
        self.assertNotIn("旧标题", html)

    def test_a_bulk_update_needs_the_explicit_bump(self) -> None:
        make_notice(title="旧标题")
        self.list_page()
        Notice.objects.update(title="新标题")  # no signal: what the importer's bump is for
        self.assertIn("旧标题", self.list_page()["html"])
        bump_data_version()
        self.assertIn("新标题", self.list_page()["html"])

    def test_an_admin_edit_is_visible_at_once(self) -> None:
        from django.contrib.auth.models import User

        notice = make_notice(title="旧标题")
        notice.tags.add("寒假")
        self.list_page()
        self.client.force_login(User.objects.create_superuser("editor", "e@example.com", "pw"))
        change = reverse("admin:notices_notice_change", args=[notice.pk])
        form = self.client.get(change).context["adminform"].form
        data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
        data.update(title="管理员改过的标题", date_0="2021-01-15", date_1="09:30:00", tags="寒假")
        data["categories"] = []
        response = self.client.post(change, data)
        self.assertEqual(response.status_code, 302, getattr(response, "context", None))
        self.assertIn("管理员改过的标题", self.list_page()["html"])


class CachedValueTests(TestCase):
    def test_a_value_is_computed_once_per_data_version(self) -> None:
        calls = []

        def compute() -> int:
            calls.append(1)
            return len(calls)

        self.assertEqual(cached("test", ["a"], compute), 1)
        self.assertEqual(cached("test", ["a"], compute), 1)
        self.assertEqual(cached("test", ["b"], compute), 2)
        bump_data_version()
        self.assertEqual(cached("test", ["a"], compute), 3)

    def test_the_version_changes_inside_the_writing_transaction(self) -> None:
        before = current_version()
        make_notice()
        after = current_version()
        self.assertNotEqual(before.token, after.token)
        self.assertGreaterEqual(after.changed_at, before.changed_at)


class OneBumpPerTransactionTests(TestCase):
    """bump_data_version() writes the row once per transaction, in it (issue 14)."""

    def writes(self, queries: CaptureQueriesContext) -> int:
        table = connection.ops.quote_name(DataVersion._meta.db_table)
        return sum(1 for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {table}"))

    def test_outside_a_transaction_each_call_bumps(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            first, second = bump_data_version(), bump_data_version()
        self.assertNotEqual(first.token, second.token)
        self.assertEqual(self.writes(queries), 2)
        self.assertEqual(current_version(), second)

    def test_a_transaction_bumps_once_and_its_readers_see_it(self) -> None:
        before = current_version()
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            bumps = {bump_data_version() for _ in range(5)}
            self.assertEqual(current_version(), bumps.pop())  # written in the transaction
            self.assertFalse(bumps)
        self.assertEqual(self.writes(queries), 1)
        after = current_version()
        self.assertNotEqual(after, before)
        with transaction.atomic():  # the next transaction bumps again
            self.assertNotEqual(bump_data_version(), after)

    def test_a_rolled_back_savepoint_takes_its_bump_with_it(self) -> None:
        with transaction.atomic():
            kept = bump_data_version()
            try:
                with transaction.atomic():
                    inner = bump_data_version()
                    self.assertEqual(inner, kept)
                    raise RuntimeError
            except RuntimeError:
                pass
            self.assertEqual(bump_data_version(), kept)  # the outer bump stands
        with transaction.atomic():
            try:
                with transaction.atomic():
                    rolled_back = bump_data_version()
                    raise RuntimeError
            except RuntimeError:
                pass
            self.assertNotEqual(current_version(), rolled_back)
            again = bump_data_version()  # written again: the first one was undone
            self.assertNotEqual(again, rolled_back)
            self.assertEqual(current_version(), again)

    def test_values_are_not_stored_from_inside_a_transaction_that_bumped(self) -> None:
        calls = []

        def compute() -> int:
            calls.append(1)
            return len(calls)

        with transaction.atomic():
            bump_data_version()
            # A later write in this transaction would not bump again: nothing is stored.
            self.assertEqual(cached("inside", ["a"], compute), 1)
            self.assertEqual(cached("inside", ["a"], compute), 2)
        self.assertEqual(cached("inside", ["a"], compute), 3)
        self.assertEqual(cached("inside", ["a"], compute), 3)


class OneBumpPerRealTransactionTests(TransactionTestCase):
    """The same outside a test case's wrapping transaction: as the site runs."""

    def test_a_transaction_bumps_once_and_the_next_one_again(self) -> None:
        with CaptureQueriesContext(connection) as queries:
            with transaction.atomic():
                first = {bump_data_version() for _ in range(3)}
            with transaction.atomic():
                second = {bump_data_version() for _ in range(3)}
        self.assertEqual(len(first | second), 2)
        self.assertEqual(current_version(), second.pop())
        table = connection.ops.quote_name(DataVersion._meta.db_table)
        writes = [q for q in queries.captured_queries if q["sql"].startswith(f"UPDATE {table}")]
        self.assertEqual(len(writes), 2)


class DetailValidatorTests(TestCase):
    def setUp(self) -> None:
        self.notice = make_notice()
        self.url = self.notice.get_absolute_url()

    def test_a_matching_etag_gets_304_without_a_body(self) -> None:
        first = self.client.get(self.url)
        self.assertEqual(first.status_code, 200)
        etag = first.headers["ETag"]
        again = self.client.get(self.url, headers={"if-none-match": etag})
        self.assertEqual(again.status_code, 304)
        self.assertEqual(again.content, b"")

    def test_last_modified_gets_304_too(self) -> None:
        first = self.client.get(self.url)
        again = self.client.get(self.url, headers={"if-modified-since": first["Last-Modified"]})
        self.assertEqual(again.status_code, 304)

    def test_any_write_changes_the_validators(self) -> None:
        etag = self.client.get(self.url).headers["ETag"]
        make_notice(urlname="another")  # the page shows neighbours: any notice can change it
        response = self.client.get(self.url, headers={"if-none-match": etag})
        self.assertEqual(response.status_code, 200)
        self.assertNotEqual(response.headers["ETag"], etag)

    def test_each_language_has_its_own_etag(self) -> None:
        chinese = self.client.get(self.url, headers={"accept-language": "zh-hans"})
        english = self.client.get(self.url, headers={"accept-language": "en"})
        self.assertNotEqual(chinese.headers["ETag"], english.headers["ETag"])
        self.assertIn("Accept-Language", chinese.headers.get("Vary", ""))

    def test_an_unknown_notice_is_still_404(self) -> None:
        response = self.client.get(reverse("notices:detail", args=["no-such-notice"]))
        self.assertEqual(response.status_code, 404)


def redis_reachable() -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


# A database number and prefix of our own: clear() empties only this database.
REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/13",
        "KEY_PREFIX": "noticeboard-tests",
    }
}


@skipUnless(redis_reachable(), "Redis is not running on 127.0.0.1:6379")
@override_settings(CACHES=REDIS_CACHES)
class RedisCacheTests(FreshAfterWritesTests):
    """The same guarantees with the cache app servers share (REDIS_URL)."""

    def setUp(self) -> None:
        super().setUp()
        cache.clear()

    def test_the_shared_cache_holds_the_values(self) -> None:
        make_notice()
        self.list_page()
        self.assertTrue(cache._cache.get_client().keys("noticeboard-tests:*"))
