"""PostgreSQL search lexemes become one gram per position: the four characters starting there
(fewer at a run's end), plus each character alone (issue 13).

Every substring of up to four characters made some 2,000 lexemes a notice; a term of two or
three characters is now a prefix of the gram where it starts (`'ab':*`), and the vectors hold
about half as many lexemes, which cut the GIN writes of an import about 2.5 times (see
notices/search.py). Existing vectors are rewritten here from the normalised text beside them,
with the GIN indexes dropped meanwhile, as in 0011; going back writes 0011's vectors again.
The vectors also get the Traditional characters of each notice's original text, which order
the matches of a query typed in that script without reading every match (_pg_typed()).
SQLite's FTS5 tables are unchanged.
"""

import html
import re

from django.db import migrations

_CHUNK = 500
_TABLE = "notices_searchdocument"
_INDEXES = {
    "notices_searchdocument_vector": "vector",
    "notices_searchdocument_title_vector": "title_vector",
}
_SUBSTRINGS = [re.compile(rf"(?=(\S{{{length}}}))") for length in range(2, 5)]


def _substring_vectors(title: str, body: str) -> tuple[str, str]:
    """0011's vectors: every substring of up to four characters of each run."""
    from notices import search

    def grams(text: str) -> set[str]:
        found = set(text) - {" "}
        for pattern in _SUBSTRINGS:
            found.update(pattern.findall(text))
        return found

    in_title = grams(title)
    every = in_title | grams(body)
    if sum(len(gram.encode()) for gram in every) > search._PG_MAX_LEXEME_BYTES:
        every = {*title, *body, search._PG_PARTIAL} - {" "}
    return search._pg_tsvector(every), search._pg_tsvector(in_title)


def rewrite(make_vectors):
    def apply(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        vectors = make_vectors()
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(f"SELECT notice_id FROM {_TABLE} ORDER BY notice_id")
            ids = [row[0] for row in cursor.fetchall()]
            for index in _INDEXES:
                cursor.execute(f"DROP INDEX {index}")
            for start in range(0, len(ids), _CHUNK):
                # The notice's own title and HTML for the characters as typed (_pg_typed).
                cursor.execute(
                    f"SELECT d.notice_id, d.title, d.body, n.title, n.body_html FROM {_TABLE} d "
                    "JOIN notices_notice n ON n.id = d.notice_id WHERE d.notice_id = ANY(%s)",
                    [ids[start : start + _CHUNK]],
                )
                cursor.executemany(
                    f"UPDATE {_TABLE} SET vector = %s::tsvector, title_vector = %s::tsvector "
                    "WHERE notice_id = %s",
                    [(*vectors(*row[1:]), row[0]) for row in cursor.fetchall()],
                )
            for index, column in _INDEXES.items():
                cursor.execute(f"CREATE INDEX {index} ON {_TABLE} USING gin ({column})")

    return apply


def _position_vectors():
    from notices.search import _pg_typed, _pg_vectors

    def vectors(title: str, body: str, original_title: str, body_html: str) -> tuple[str, str]:
        # The HTML's characters hold its visible text's (and a few of its markup's).
        typed = _pg_typed(original_title, html.unescape(body_html))
        return _pg_vectors(title, body, typed)

    return vectors


def _previous_vectors():
    return lambda title, body, *originals: _substring_vectors(title, body)


class Migration(migrations.Migration):
    dependencies = [("notices", "0012_search_fts_automerge")]

    operations = [
        migrations.RunPython(rewrite(_position_vectors), rewrite(_previous_vectors)),
    ]
