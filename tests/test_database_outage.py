"""The database going away mid-run: a 503 page, never a traceback, and recovery (issue 6)."""

from __future__ import annotations

from unittest import mock

import html5lib
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import InterfaceError, OperationalError
from django.test import Client, TestCase
from django.urls import reverse

from tests.helpers import make_notice


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
        page = html5lib.parse(body, treebuilder="etree", namespaceHTMLElements=False)
        self.assertTrue(page.find(".//h1").text.strip())

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
