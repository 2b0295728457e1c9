"""The database going away mid-run: a 503 page, never a traceback, and recovery (issue 6)."""

from __future__ import annotations

import tempfile
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError
from django.test import Client, TestCase
from django.urls import reverse

from notices.exporting import notice_records
from notices.importing import _ImportRun
from notices.models import Notice
from sample import write_archive
from tests.helpers import elements, make_notice, visible_text


class DatabaseOutageTests(TestCase):
    def setUp(self) -> None:
        self.notice = make_notice(urlname="outage")

    def assert_unavailable(self, response) -> None:
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Retry-After"], "30")
        self.assertEqual(response["Cache-Control"], "no-store")
        body = response.content.decode()
        self.assertNotIn("Traceback", body)
        self.assertNotIn("server closed", body)  # the database's message stays in the log
        [heading] = elements(body, "h1")
        self.assertTrue(visible_text(heading).strip())  # a page that says what happened

    def test_a_lost_connection_in_a_list_view_is_a_503(self) -> None:
        error = OperationalError("server closed the connection unexpectedly")
        with mock.patch("notices.views.paginate", side_effect=error):
            self.assert_unavailable(self.client.get(reverse("notices:list")))
        # Back by itself: the next request after the database returns is served.
        self.assertEqual(self.client.get(reverse("notices:list")).status_code, 200)

    def test_a_closed_connection_in_a_detail_view_is_a_503(self) -> None:
        error = InterfaceError("connection already closed")
        with mock.patch("notices.views.get_object_or_404", side_effect=error):
            self.assert_unavailable(self.client.get(self.notice.get_absolute_url()))
        self.assertEqual(self.client.get(self.notice.get_absolute_url()).status_code, 200)

    def test_a_failure_outside_the_view_is_a_503_too(self) -> None:
        client = Client(raise_request_exception=False)
        error = OperationalError("could not connect to server: Connection refused")
        with mock.patch.object(SessionMiddleware, "process_response", side_effect=error):
            self.assert_unavailable(client.get(reverse("notices:list")))

    def test_other_errors_stay_500s(self) -> None:
        client = Client(raise_request_exception=False)
        with mock.patch("notices.views.paginate", side_effect=KeyError("bug")):
            response = client.get(reverse("notices:list"))
        self.assertEqual(response.status_code, 500)
        self.assertFalse(response.has_header("Retry-After"))


class ImportDuringOutageTests(TestCase):
    @pytest.mark.slow
    def test_an_import_stops_cleanly_when_the_database_goes_away(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_archive(root, 60, seed=3)
            call_command("import_notices", str(root), "--batch-size", "20", stdout=StringIO())
            expected = notice_records()
            Notice.objects.all().delete()

            real_write, calls = _ImportRun.write, []

            def write_then_lose_the_server(run, *args):
                calls.append(1)
                if len(calls) == 2:
                    raise OperationalError("terminating connection due to administrator command")
                return real_write(run, *args)

            stderr = StringIO()
            with (
                mock.patch.object(_ImportRun, "write", write_then_lose_the_server),
                self.assertRaisesMessage(CommandError, "run the same import again"),
            ):
                call_command("import_notices", str(root), "--batch-size", "20",
                             stdout=StringIO(), stderr=stderr)  # fmt: skip
            # No file is blamed for the outage, and the first batch is whole.
            self.assertEqual(stderr.getvalue(), "")
            self.assertEqual(Notice.objects.count(), 20)
            call_command("import_notices", str(root), "--batch-size", "20", stdout=StringIO())
            self.assertEqual(notice_records(), expected)
