"""Model rows as the database takes them, for the importer's bulk writes (issue 13).

`bulk_create()` compiles every value through its field and the SQL compiler (get_db_prep_save,
pre_save, field_as_sql: 30 columns a notice), a fifth of the importing process's CPU on
SQLite. Here each column's conversion is chosen once per field, and only the types whose
database form differs from the Python value (dates, JSON, bytes) are converted, with the same
backend adapters Django's fields call.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection, connections, models


def _as_is(value: Any) -> Any:
    return value


def preparer(field: models.Field) -> Callable[[Any], Any]:
    """value -> what the database takes for `field`, as field.get_db_prep_save() makes it."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        # A notice and its version share their dates, and a batch its import time: the
        # same datetime is adapted once.
        adapt = functools.lru_cache(maxsize=1024)(ops.adapt_datetimefield_value)

        def prepare_datetime(value: Any) -> Any:
            # An aware datetime goes straight to the backend; anything else (a naive time, a
            # date) takes the field's own path with its checks and warnings.
            if value is None:
                return None
            if type(value) is dt.datetime and value.tzinfo is not None:
                return adapt(value)
            return field.get_db_prep_save(value, connection)

        return prepare_datetime
    if isinstance(field, models.DateField):
        adapt_date = ops.adapt_datefield_value
        return lambda value: (
            adapt_date(value)
            if type(value) is dt.date
            else field.get_db_prep_save(value, connection)
        )
    if isinstance(field, models.JSONField):
        adapt_json, encoder = ops.adapt_json_value, field.encoder
        return lambda value: adapt_json(value, encoder)
    if isinstance(field, models.BinaryField | models.ForeignKey):
        return functools.partial(_field_prepared, field)
    return _as_is


def _field_prepared(field: models.Field, value: Any) -> Any:
    return field.get_db_prep_save(value, connection)


def _max_parameters() -> int:
    """How many parameters one statement may have."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 65535  # PostgreSQL's protocol limit


def copy_rows(
    table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], using: str = "default"
) -> None:
    """Add rows to a PostgreSQL table with COPY, in the caller's transaction.

    Django's psycopg cursors bind parameters on the client: an executemany() quoted every
    value into SQL text in Python, most of the importing process's CPU on PostgreSQL, and
    the server parsed and planned one INSERT per row. COPY sends the rows as data, each
    value adapted by psycopg's C dumpers. (Not seen by connection.execute_wrapper(), so
    not by assertNumQueries either: one COPY counts as no query.)"""
    quote = connections[using].ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    sql = f"COPY {quote(table)} ({names}) FROM STDIN"
    with connections[using].cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def insert_arrays(
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    on_conflict: str = "",
) -> None:
    """INSERT rows into a PostgreSQL table as one statement of one array per column
    (unnest(), in the rows' order), then `on_conflict` (an ON CONFLICT clause): where COPY
    cannot say what a conflict does, one statement instead of an executemany() that quoted
    every row on the client and had each planned apart."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table)} ({names}) SELECT * FROM unnest({arrays}) {on_conflict}",
            [list(column) for column in zip(*rows, strict=True)],
        )


def insert_returning_ids(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """INSERT unsaved instances without ids and set their ids: on PostgreSQL ids taken from
    the table's sequence, then COPY; elsewhere multi-row INSERTs with RETURNING (in the
    order of the rows, as bulk_create() relies on too). No signals, no pre_save(): the
    caller sets every value (these models have no auto_now fields)."""
    if not objs:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    prepares = [(field.attname, preparer(field)) for field in fields]
    quote = connection.ops.quote_name
    if connection.vendor == "postgresql":
        table, pk_column = model._meta.db_table, model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [quote(table), pk_column, len(objs)],
            )
            ids = sorted(id_ for (id_,) in cursor.fetchall())
        for obj, id_ in zip(objs, ids, strict=True):
            obj.pk = id_
        copy_rows(
            table,
            [pk_column, *(field.column for field in fields)],
            ([obj.pk, *(prepare(getattr(obj, attname)) for attname, prepare in prepares)]
             for obj in objs),
        )  # fmt: skip
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias
        return
    columns = ", ".join(quote(field.column) for field in fields)
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    pk = quote(model._meta.pk.column)
    batch = max(1, min(len(objs), _max_parameters() // len(fields), 1000))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params = [
                prepare(getattr(obj, attname)) for obj in chunk for attname, prepare in prepares
            ]
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
                f"{', '.join([row_sql] * len(chunk))} RETURNING {pk}",
                params,
            )
            for obj, (id_,) in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = id_
                obj._state.adding = False
                obj._state.db = connection.alias
