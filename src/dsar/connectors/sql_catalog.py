"""What SQL sources say about their indexes, for `dsar datamap check`."""

from __future__ import annotations

import re

from sqlalchemy import Engine, inspect


def read_indexes(engine: Engine, table: str) -> list[tuple[str, ...]]:
    """Leading column lists of every index, primary key and unique constraint of a table.

    Expression index elements appear as their SQL text, lower-cased without spaces.
    """
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
