"""requirements.lock, which `make setup` installs from, holds pyproject.toml's pins for every
supported Python; django-taggit 6.1.0 (whose own matrix stops at Django 5.0) works on 5.2."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from django.conf import settings
from django.test import SimpleTestCase, TestCase
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from taggit.models import Tag

from notices.models import TaggedNotice
from tests.helpers import make_notice

_LOCKED = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_versions(environment: dict[str, str] | None = None) -> dict[str, str]:
    """Package -> version from requirements.lock, for this interpreter and platform or the
    marker `environment` given (e.g. another Python version)."""
    found: dict[str, str] = {}
    lock = Path(settings.BASE_DIR, "requirements.lock").read_text(encoding="utf-8")
    for line in lock.splitlines():
        match = _LOCKED.match(line)
        if match and (not match[3] or Marker(match[3]).evaluate(environment)):
            found[canonicalize_name(match[1])] = match[2]
    return found


def supported_pythons(requires_python: str) -> list[str]:
    """The minor versions 3.x that pyproject.toml's requires-python admits."""
    admitted = SpecifierSet(requires_python)
    return [f"3.{minor}" for minor in range(8, 30) if admitted.contains(f"3.{minor}.0")]


class LockFileTests(SimpleTestCase):
    def test_the_lock_installs_every_pin_on_every_supported_python(self) -> None:
        """`make setup` on any Python that requires-python admits gets pyproject.toml's pins
        from the lock (a lock made for one Python only would miss packages on another)."""
        project = tomllib.loads(Path(settings.BASE_DIR, "pyproject.toml").read_text())["project"]
        pins = [*project["dependencies"], *project["optional-dependencies"]["test"]]
        pythons = supported_pythons(project["requires-python"])
        self.assertIn(f"3.{sys.version_info.minor}", pythons)  # this one, at least
        for python in pythons:
            locked = locked_versions({"python_version": python, "python_full_version": python})
            for pin in pins:
                name, _, pinned = re.sub(r"\[.*\]", "", pin).partition("==")
                with self.subTest(python=python, pin=pin):
                    self.assertEqual(locked.get(canonicalize_name(name)), pinned, "run `make lock`")


class TaggitOnDjango52Tests(TestCase):
    def test_chinese_tags_get_chinese_slugs_through_the_fk_table(self) -> None:
        notice = make_notice()
        notice.tags.add("奖学金", "研究生")
        notice.tags.set(["奖学金", "招生"])
        self.assertEqual(sorted(notice.tags.names()), ["奖学金", "招生"])
        self.assertEqual(Tag.objects.get(name="奖学金").slug, "奖学金")
        self.assertEqual(TaggedNotice.objects.filter(content_object=notice).count(), 2)
