"""What `make setup` installs is what requirements.lock says, and the lock agrees with
pyproject.toml; django-taggit 6.1.0 (whose own matrix stops at Django 5.0) works on 5.2."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase, TestCase
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from taggit.models import Tag

from notices.models import TaggedNotice
from tests.helpers import make_notice

_LOCKED = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_versions() -> dict[str, str]:
    """Package -> version from requirements.lock, for this interpreter and platform."""
    found: dict[str, str] = {}
    lock = Path(settings.BASE_DIR, "requirements.lock").read_text(encoding="utf-8")
    for line in lock.splitlines():
        match = _LOCKED.match(line)
        if match and (not match[3] or Marker(match[3]).evaluate()):
            found[canonicalize_name(match[1])] = match[2]
    return found


class LockFileTests(SimpleTestCase):
    def test_every_pin_of_pyproject_is_in_the_lock_at_the_same_version(self) -> None:
        project = tomllib.loads(Path(settings.BASE_DIR, "pyproject.toml").read_text())["project"]
        pins = [*project["dependencies"], *project["optional-dependencies"]["test"]]
        locked = locked_versions()
        for pin in pins:
            name, _, pinned = re.sub(r"\[.*\]", "", pin).partition("==")
            with self.subTest(pin):
                self.assertEqual(locked.get(canonicalize_name(name)), pinned, "run `make lock`")

    def test_every_locked_package_is_installed_at_its_locked_version(self) -> None:
        for name, locked in locked_versions().items():
            with self.subTest(name):
                try:
                    installed = version(name)
                except PackageNotFoundError:
                    installed = None
                self.assertEqual(installed, locked, "run `make setup`")


class TaggitOnDjango52Tests(TestCase):
    def test_chinese_tags_get_chinese_slugs_through_the_fk_table(self) -> None:
        notice = make_notice()
        notice.tags.add("奖学金", "研究生")
        notice.tags.set(["奖学金", "招生"])
        self.assertEqual(sorted(notice.tags.names()), ["奖学金", "招生"])
        self.assertEqual(Tag.objects.get(name="奖学金").slug, "奖学金")
        self.assertEqual(TaggedNotice.objects.filter(content_object=notice).count(), 2)
