"""The notice generator: deterministic, in the archive's format, and the source of archive/.

No database: these run with or without pytest-django (`-p no:django`).
"""

from __future__ import annotations

import hashlib
import random
import re
from datetime import datetime
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from notices.management.commands.generate_archive import Command as GenerateArchive
from sample import FIRST_YEAR, LAST_YEAR, SITES, generate_document, generator, write_archive

ARCHIVE = Path(__file__).resolve().parent.parent / "archive"
TITLE = re.compile(r"^(.+)->(.+) \| ([a-z0-9.-]+)$")
SOURCE_LINE = re.compile(r"^\[转入文章首发地址\]\((https?://[a-z0-9.-]+/\S*)\)$")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MARKDOWN_URL = re.compile(r"\]\([^)]*\)")


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Shadow conftest's cache-clearing fixture: nothing here uses Django's cache, and without
    it these tests run without Django settings too (`-p no:django`)."""


def split(text: str) -> tuple[list[str], str]:
    """Front-matter lines (without the --- fences) and the body."""
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return front.split("\n"), body


def body_without_urls(text: str) -> str:
    return MARKDOWN_URL.sub("](…)", split(text)[1])


# --- Determinism ------------------------------------------------------------------------------


def test_the_same_index_and_seed_give_the_same_document() -> None:
    for index in (0, 1, 59, 12_345):
        assert generate_document(index) == generate_document(index)
        assert generate_document(index, seed=7) == generate_document(index, seed=7)


def test_other_indexes_and_seeds_give_other_documents() -> None:
    texts = {generate_document(index)[1] for index in range(200)}
    assert len(texts) == 200
    assert generate_document(5, seed=0) != generate_document(5, seed=1)


def test_it_does_not_touch_the_global_random_state() -> None:
    state = random.getstate()
    generate_document(3)
    assert random.getstate() == state


# --- Format -----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(0, 400, 7))
def test_front_matter_has_the_archive_keys_in_order(index: int) -> None:
    path, text = generate_document(index)
    lines, _ = split(text)
    keys = [line.split(":", 1)[0] for line in lines if not line.startswith("- ")]
    assert keys == ["title", "date", "urlname", "tags", "categories"]

    title = lines[0].removeprefix("title: ")
    match = TITLE.match(title)
    assert match, title
    site, _notice_title, domain = match.groups()
    assert (site, domain) in {(s.name, s.domain) for s in SITES}

    date = lines[1].removeprefix("date: ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", date)
    assert FIRST_YEAR <= int(date[:4]) <= LAST_YEAR

    urlname = lines[2].removeprefix("urlname: ")
    assert urlname == hashlib.md5(f"0:{index}".encode()).hexdigest()

    tags = lines[lines.index("tags:") + 1 : lines.index("categories:")]
    assert tags[0] == f"- {site}" and 1 <= len(tags) <= 4
    assert lines[lines.index("categories:") + 1 :] == [f"- {domain}", f"- {site}"]
    assert path == f"{domain}/{date[:4]}/{urlname}.md"


@pytest.mark.parametrize("index", range(0, 400, 7))
def test_front_matter_is_yaml_with_a_real_date(index: int) -> None:
    lines, _ = split(generate_document(index)[1])
    data = yaml.safe_load("\n".join(lines))
    assert list(data) == ["title", "date", "urlname", "tags", "categories"]
    assert hasattr(data["date"], "hour")
    assert all(isinstance(tag, str) for tag in data["tags"])


@pytest.mark.parametrize("index", range(0, 400, 7))
def test_the_body_ends_with_the_first_published_link(index: int) -> None:
    _, text = generate_document(index)
    assert "\r" not in text and text.endswith("\n") and not text.endswith("\n\n")
    _, body = split(text)
    last = body.rstrip("\n").rsplit("\n", 1)[-1]
    assert SOURCE_LINE.match(last), last
    assert body.count("转入文章首发地址") == 1


def test_bodies_vary_between_one_and_six_kilobytes() -> None:
    sizes = [len(split(generate_document(index)[1])[1].encode()) for index in range(500)]
    assert min(sizes) >= 400 and max(sizes) <= 6500
    assert sum(size < 2000 for size in sizes) > 50 and sum(size > 4000 for size in sizes) > 50


def test_markdown_features_appear_by_index() -> None:
    bodies = [split(generate_document(index)[1])[1] for index in range(60)]
    assert all("**" in body for body in bodies[::2])
    assert all("![" in body and "/images/" in body for body in bodies[2::5])
    assert any("| 日期 | 事项 | 地点 |" in body for body in bodies)
    assert any(re.search(r"^1\. ", body, re.MULTILINE) for body in bodies)
    assert any(re.search(r"^- ", body, re.MULTILINE) for body in bodies)
    # Links inside the text (not images, not the closing source line).
    inline_link = re.compile(r"(?<!!)\[[^\]]+\]\(https://")
    assert all(inline_link.search(body.rsplit("\n", 2)[0]) for body in bodies[1::6])


def test_about_one_document_in_seven_has_latin_script() -> None:
    latin = [LATIN_WORD.search(body_without_urls(generate_document(i)[1])) for i in range(700)]
    assert sum(bool(found) for found in latin) == 100
    assert all(latin[index] for index in range(3, 700, 7))


def test_common_search_words_occur_inside_bodies() -> None:
    bodies = [split(generate_document(index)[1])[1] for index in range(300)]
    for word in ("疫情", "招生", "考试", "奖学金", "就业", "讲座"):
        assert sum(word in body for body in bodies) >= 5, word


def test_every_site_and_year_turns_up() -> None:
    paths = [generate_document(index)[0] for index in range(2000)]
    assert {path.split("/")[0] for path in paths} == {site.domain for site in SITES}
    assert {int(path.split("/")[1]) for path in paths} == set(range(FIRST_YEAR, LAST_YEAR + 1))


# --- Writing ----------------------------------------------------------------------------------


def test_write_archive_writes_exactly_count_files(tmp_path: Path) -> None:
    assert write_archive(tmp_path, 25, seed=3) == 25
    files = sorted(tmp_path.rglob("*.md"))
    assert len(files) == 25
    expected = dict(generate_document(index, seed=3) for index in range(25))
    assert {f.relative_to(tmp_path).as_posix(): f.read_bytes() for f in files} == {
        path: text.encode("utf-8") for path, text in expected.items()
    }


def test_write_archive_of_nothing_writes_nothing(tmp_path: Path) -> None:
    assert write_archive(tmp_path / "new", 0) == 0
    assert not any(tmp_path.rglob("*.md"))


def test_the_shipped_archive_is_the_generators_output() -> None:
    files = {f.relative_to(ARCHIVE).as_posix(): f for f in ARCHIVE.rglob("*.md")}
    assert files, f"{ARCHIVE} holds no documents"
    # Documents 0..N-1 with seed 0, as `generate_archive archive --count N` writes them.
    expected = dict(generate_document(index) for index in range(len(files)))
    assert set(files) == set(expected)
    for path, text in expected.items():
        assert files[path].read_bytes() == text.encode("utf-8"), path


# --- Word lists (sample/words/*.toml) ---------------------------------------------------------


def test_every_wording_of_the_word_lists_can_be_filled_for_each_site_using_it() -> None:
    """A misspelt {key} in a TOML file fails here, not in one document in thousands."""
    shared = [*generator._FILLER, *generator._LINK_SENTENCES, generator._SCHEDULE_LEAD]
    for site in SITES:
        for key in site.topics:
            topic = generator.TOPICS[key]
            context = generator._context(random.Random(0), site, topic, datetime(2021, 3, 1, 9))
            phrases = [*topic.subjects, *topic.titles, *topic.intros, *topic.bases, *topic.latin,
                       *topic.checklist, topic.checklist_lead, topic.roster_lead, site.decided,
                       *site.recipients, *shared,
                       *(s for section in topic.sections for s in section.sentences)]  # fmt: skip
            for wording in (w for phrase in phrases for w in phrase._wordings):
                wording.format_map(context)  # a KeyError names the unknown field


# --- Command ----------------------------------------------------------------------------------


def run_command(*args: str) -> str:
    stdout = StringIO()
    call_command(GenerateArchive(), *args, stdout=stdout)
    return stdout.getvalue()


def test_command_writes_and_reports(tmp_path: Path) -> None:
    out = run_command(str(tmp_path), "--count", "12", "--seed", "2")
    assert re.fullmatch(rf"Wrote 12 documents to {re.escape(str(tmp_path))} in \d+\.\d\d s\n", out)
    assert len(list(tmp_path.rglob("*.md"))) == 12


def test_command_clean_removes_old_documents_only(tmp_path: Path) -> None:
    run_command(str(tmp_path), "--count", "30")
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    run_command(str(tmp_path), "--count", "5", "--clean")
    assert len(list(tmp_path.rglob("*.md"))) == 5
    assert (tmp_path / "notes.txt").exists()
    assert all(any(folder.iterdir()) for folder in tmp_path.rglob("*") if folder.is_dir())


def test_command_refuses_a_file_as_out_dir(tmp_path: Path) -> None:
    target = tmp_path / "archive.md"
    target.write_text("", encoding="utf-8")
    with pytest.raises(CommandError, match="not a folder"):
        run_command(str(target))
