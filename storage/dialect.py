"""SQLite-style statements for psycopg: placeholders translated once, rows by name and index.

The storage modules write `?` (or `:name`) placeholders, as sqlite3 wants; psycopg wants `%s`
(or `%(name)s`) and a literal `%` doubled. `translate` rewrites the placeholders outside
string literals, quoted names and comments, doubles every `%`, and remembers the answer: each
statement is translated once per process. The rules for SQL that runs on both backends:
docs/storage.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, ClassVar

from psycopg.pq import ExecStatus

# One alternation, scanned left to right: the parts that are copied as they are come first.
_TOKENS = re.compile(
    r"""
      (?P<literal>'(?:[^']|'')*')        # a string literal, '' escapes a quote
    | (?P<quoted>"(?:[^"]|"")*")         # a quoted name
    | (?P<comment>--[^\n]*)              # a line comment
    | (?P<cast>::)                       # a PostgreSQL cast, not a named placeholder
    | (?P<named>(?<![:\w]):[A-Za-z_]\w*)   # :name
    | (?P<positional>\?)
    | (?P<percent>%)
    """,
    re.VERBOSE,
)


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """Return `sql` with sqlite3 placeholders as psycopg's, and `%` as `%%`."""

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup
        if kind == "named":
            return f"%({match.group()[1:]})s"
        if kind == "positional":
            return "%s"
        if kind == "percent":
            return "%%"
        if kind == "cast":
            return "::"
        # Literals, quoted names and comments keep their ? and :words, but psycopg reads % in
        # them too: doubled like every other.
        return match.group().replace("%", "%%")

    return _TOKENS.sub(replace, sql)


class _Row(tuple[Any, ...]):
    """A row of a result with these column names (`_names`, set per subclass)."""

    __slots__ = ()
    _names: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is str:
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Return the column names, like sqlite3.Row."""
        return list(self._names)


# Results that carry rows (TUPLES_CHUNK is newer than some psycopg 3 releases).
_TUPLES = frozenset(
    status
    for status in (
        ExecStatus.TUPLES_OK,
        ExecStatus.SINGLE_TUPLE,
        getattr(ExecStatus, "TUPLES_CHUNK", None),
    )
    if status is not None
)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[bytes, ...]) -> type[_Row]:
    """The row class of results with these column names (as the server sends them)."""
    # Our column names are SQL identifiers: ASCII, the same in every client encoding.
    by_name = {name.decode(): i for i, name in enumerate(names)}
    return type("Row", (_Row,), {"__slots__": (), "_names": by_name})


def make_row_factory() -> Callable[[Any], Callable[[Sequence[Any]], Any]]:
    """Return a psycopg row factory whose rows read like sqlite3.Row (by name and by index)."""

    def factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
        # The names straight from the result, not from `cursor.description`, which builds a
        # Column object for each column of every statement: ~28 us for eight columns on the
        # 2-core VM, ~3 us this way, for each statement of every transaction.
        result = cursor.pgresult
        if result is None or result.status not in _TUPLES:
            return tuple  # a command or COPY: no rows to read
        return _row_class(tuple(result.fname(i) for i in range(result.nfields)))

    return factory
