"""What SQL sources say about their indexes, for `dsar datamap check`."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, inspect, text


def read_indexes(engine: Engine, table: str) -> list[tuple[str, ...]]:
    """Leading column lists of every index, primary key and unique constraint of a table.

    Expression index elements appear as their SQL text, lower-cased without spaces.
    """
    if engine.dialect.name == "duckdb":
        return duckdb_indexes(engine, table)
    insp = inspect(engine)
    out: list[tuple[str, ...]] = []
    pk = insp.get_pk_constraint(table).get("constrained_columns") or []
    if pk:
        out.append(tuple(c.lower() for c in pk))
    if engine.dialect.name == "sqlite":  # SQLAlchemy warns on (and skips) SQLite expression indexes
        return out + _sqlite_indexes(engine, table)
    for uc in insp.get_unique_constraints(table):
        out.append(tuple(_norm_sql(c) for c in uc["column_names"]))
    for ix in insp.get_indexes(table):
        cols = list(ix.get("column_names") or [])
        exprs = list(ix.get("expressions") or [])
        names = [c if c is not None else (exprs[i] if i < len(exprs) else "") for i, c in enumerate(cols)]
        if not names and exprs:
            names = exprs
        out.append(tuple(_norm_sql(n) for n in names))
    return out


def index_advice(engine: Engine, table: str, column: str, *, expression: bool, mariadb: bool) -> str:
    """The statement that makes a lookup an index search on this engine, names quoted as it quotes them.

    `expression`: the lookup is `lower(trim(column))`. MySQL 8 wants an expression in its own parentheses;
    MariaDB has no expression indexes, so the advice is a stored generated column with an index, which the data
    map then names with `match: exact`.
    """
    q = engine.dialect.identifier_preparer.quote_identifier  # always quotes: mixed case, reserved words
    base = re.sub(r"[^a-z0-9_]+", "_", f"{table}_{column}".lower()).strip("_")
    name = q(f"ix_{base}"[:60])
    if not expression:
        return f"CREATE INDEX {name} ON {q(table)} ({q(column)});"
    expr = f"lower(trim({q(column)}))"
    if mariadb:
        normalized = f"{column}_normalized"
        return (
            f"ALTER TABLE {q(table)} ADD {q(normalized)} VARCHAR(320) AS ({expr}) STORED, ADD INDEX ({q(normalized)}); "
            f"then map the identity to `{normalized}` with `match: exact` and add it to `exclude`"
        )
    if engine.dialect.name == "mysql":
        return f"CREATE INDEX {name} ON {q(table)} (({expr}));"
    return f"CREATE INDEX {name} ON {q(table)} ({expr});"


def _sqlite_indexes(engine: Engine, table: str) -> list[tuple[str, ...]]:
    """SQLite indexes read from the catalogue: UNIQUE constraints' automatic indexes and every
    CREATE INDEX (plain or expression) parsed from its SQL text."""
    quote = engine.dialect.identifier_preparer.quote
    out: list[tuple[str, ...]] = []
    with engine.connect() as conn:
        for ix in conn.exec_driver_sql(f"PRAGMA index_list({quote(table)})").mappings().all():
            if ix["origin"] == "c":  # created by CREATE INDEX: parsed from its SQL below
                continue
            info = conn.exec_driver_sql(f"PRAGMA index_info({quote(ix['name'])})").mappings().all()
            out.append(tuple(str(r["name"]).lower() for r in sorted(info, key=lambda r: r["seqno"])))
        rows = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ).all()
    for (sql,) in rows:
        cols = _index_columns(str(sql))
        if cols:
            out.append(tuple(_norm_sql(part) for part in _split_top(cols)))
    return out


def _norm_sql(text: str) -> str:
    t = "".join(text.lower().split()).replace('"', "").replace("`", "")
    return t.replace("trim(bothfrom", "trim(").replace("::text", "")


def _index_columns(sql: str) -> str:
    """The text between the parentheses after `ON table` of a CREATE INDEX statement."""
    m = re.search(r"\bon\b[^(]*\(", sql, re.IGNORECASE)
    if m is None:
        return ""
    depth, start = 1, m.end()
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if depth == 0:
                return sql[start:i]
    return ""


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


# --- DuckDB: its SQLAlchemy dialect reflects through PostgreSQL catalog queries that DuckDB 2 no longer
# answers (pg_collation, regclass), so tables, keys and indexes are read from DuckDB's own catalog functions.

_DUCKDB_TYPES: dict[str, Any] = {
    "BOOLEAN": sa.Boolean,
    "TINYINT": sa.SmallInteger,
    "SMALLINT": sa.SmallInteger,
    "INTEGER": sa.Integer,
    "BIGINT": sa.BigInteger,
    "HUGEINT": sa.BigInteger,
    "UTINYINT": sa.SmallInteger,
    "USMALLINT": sa.Integer,
    "UINTEGER": sa.BigInteger,
    "UBIGINT": sa.BigInteger,
    "FLOAT": sa.Float,
    "REAL": sa.Float,
    "DOUBLE": sa.Float,
    "VARCHAR": sa.String,
    "UUID": sa.Uuid,
    "DATE": sa.Date,
    "TIME": sa.Time,
    "TIMESTAMP": sa.DateTime,
    "TIMESTAMP WITH TIME ZONE": lambda: sa.DateTime(timezone=True),
    "BLOB": sa.LargeBinary,
    "INTERVAL": sa.Interval,
}


def duckdb_type(name: str) -> Any:
    """A SQLAlchemy type for a DuckDB type name; unknown (nested) types are read as their text."""
    m = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", name)
    if m:
        return sa.Numeric(int(m.group(1)), int(m.group(2)))
    factory = _DUCKDB_TYPES.get(name)
    return factory() if factory is not None else sa.String()


def duckdb_columns(engine: Engine, table: str) -> tuple[list[dict[str, Any]], set[str]] | None:
    """The table's columns (name, type, nullable) and its primary key, or None when there is no such table."""
    with engine.connect() as conn:
        cols = conn.execute(
            text(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE table_name = :t AND schema_name = current_schema() ORDER BY column_index"
            ),
            {"t": table},
        ).all()
        keys = conn.execute(
            text(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = :t AND schema_name = current_schema() AND constraint_type = 'PRIMARY KEY'"
            ),
            {"t": table},
        ).all()
    if not cols:
        return None
    pk = {str(c) for row in keys for c in row[0]}
    return [{"name": n, "type": duckdb_type(str(t)), "nullable": bool(null)} for n, t, null in cols], pk


def duckdb_indexes(engine: Engine, table: str) -> list[tuple[str, ...]]:
    """Primary key and unique constraints, then every CREATE INDEX (plain or expression) parsed from its text."""
    out: list[tuple[str, ...]] = []
    with engine.connect() as conn:
        for (names,) in conn.execute(
            text(
                "SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = :t AND "
                "schema_name = current_schema() AND constraint_type IN ('PRIMARY KEY', 'UNIQUE') "
                "ORDER BY constraint_type"
            ),
            {"t": table},
        ):
            out.append(tuple(str(c).lower() for c in names))
        rows = conn.execute(
            text(
                "SELECT sql FROM duckdb_indexes() WHERE table_name = :t AND schema_name = current_schema() "
                "AND sql IS NOT NULL"
            ),
            {"t": table},
        ).all()
    for (sql,) in rows:
        cols = _index_columns(str(sql))
        if cols:
            out.append(tuple(_norm_sql(part) for part in _split_top(cols)))
    return out
