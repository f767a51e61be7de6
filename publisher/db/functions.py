"""SQL functions the two databases spell differently, as SQLAlchemy constructs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class whole_seconds(FunctionElement[int]):
    """The whole seconds from 1970-01-01 UTC to a stored time, rounded down: an integer either database can divide."""

    type = BigInteger()
    inherit_cache = True


@compiles(whole_seconds, "sqlite")
def _sqlite(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # Times are stored as UTC text, "YYYY-MM-DD HH:MM:SS.ffffff". The fraction is cut off first:
    # SQLite reads it to the millisecond, rounding, so 14:59:59.9999 would count as 15:00.
    return f"CAST(strftime('%s', substr({compiler.process(element.clauses, **kw)}, 1, 19)) AS INTEGER)"


@compiles(whole_seconds, "postgresql")
def _postgresql(element: whole_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # A cast alone would round half a second up: floor first.
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"
