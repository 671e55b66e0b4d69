"""Sample schemas for `bench.discovery` that need more than a file read: Firebird's EMPLOYEE database, and a
schema split across two databases (to measure references across sources).

Firebird's EMPLOYEE sample (Borland/Inprise's InterBase example, 10 tables: employees, departments, jobs,
projects, customers, sales, salary history) ships as `employee.sql` in Debian's `firebird3.0-examples`
package, fetched with `apt-get download`. It is Firebird SQL: domains, triggers, procedures, generators, array
columns. `load_firebird` translates what a data map can see into PostgreSQL: domains become their base types,
`BLOB` text, `COMPUTED BY` and array columns are left out (no row fills the arrays: the head counts are in
comments), checks are dropped, indexes kept, foreign keys added after the data (or not at all), and the one
trigger that writes rows (`save_salary_change`, which fills `salary_history` when a salary changes) is
rewritten in PL/pgSQL so that table holds what the script makes it hold. Dates are the script's `MM/DD/YY`.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import warnings
from pathlib import Path

import sqlalchemy as sa

FIREBIRD_SQL = "usr/share/doc/firebird3.0-common-doc/examples/employee.sql.gz"
_TRIGGER = """
CREATE FUNCTION save_salary_change() RETURNS trigger AS $$
BEGIN
  IF old.salary <> new.salary THEN
    INSERT INTO salary_history (emp_no, change_date, updater_id, old_salary, percent_change)
    VALUES (old.emp_no, clock_timestamp(), current_user, old.salary, (new.salary - old.salary) * 100 / old.salary);
  END IF;
  RETURN new;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER save_salary_change AFTER UPDATE ON employee FOR EACH ROW EXECUTE FUNCTION save_salary_change();
"""


def firebird_script(cache: Path) -> tuple[str, str]:
    """(the package file's name, the text of employee.sql)."""
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob("firebird3.0-examples_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", "firebird3.0-examples"], cwd=cache, check=True, capture_output=True)
        debs = sorted(cache.glob("firebird3.0-examples_*.deb"))
    out = cache / "firebird-examples"
    if not (out / FIREBIRD_SQL).exists():
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(out)], check=True)
    return debs[-1].name, gzip.decompress((out / FIREBIRD_SQL).read_bytes()).decode("latin-1")


def _statements(sql: str) -> list[str]:
    sql = re.sub(r"/\*.*?\*/", "", sql, flags=re.DOTALL)
    sql = re.sub(r"SET TERM !! ;.*?SET TERM ; !!", "", sql, flags=re.DOTALL | re.IGNORECASE)
    out, cur, quoted = [], [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    return [s for s in out if s]


def _split_top(body: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in body:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


_TYPE = re.compile(r"^(\w+(?:\s+PRECISION)?(?:\s*\(\s*\d+\s*(?:,\s*\d+\s*)?\))?)\s*(\[\s*\d+\s*\])?", re.IGNORECASE)


def translate(sql: str) -> tuple[list[str], list[str], list[str]]:
    """(CREATE TABLE and INDEX statements, data statements, foreign keys to add) in PostgreSQL."""
    domains: dict[str, str] = {}
    ddl, data, fks = [], [], []
    for st in _statements(sql):
        head = " ".join(st.split()[:3]).upper()
        if head.startswith("CREATE DOMAIN"):
            m = re.match(r"CREATE DOMAIN\s+(\w+)\s+AS\s+(.*)$", st, re.IGNORECASE | re.DOTALL)
            assert m is not None
            t = _TYPE.match(m.group(2).strip())
            assert t is not None
            domains[m.group(1).lower()] = t.group(1)
        elif head.startswith("CREATE TABLE"):
            m = re.match(r"CREATE TABLE\s+(\w+)\s*\((.*)\)\s*$", st, re.IGNORECASE | re.DOTALL)
            assert m is not None
            table, cols = m.group(1), []
            for item in _split_top(m.group(2)):
                word = item.split()[0].upper()
                if word in ("PRIMARY", "UNIQUE"):
                    cols.append(" ".join(item.split()))
                elif word == "FOREIGN":
                    fks.append(f"ALTER TABLE {table} ADD {' '.join(item.split())}")
                elif word != "CHECK":
                    name, rest = item.split(None, 1)
                    if "COMPUTED" in rest.upper():
                        continue
                    t = _TYPE.match(rest.strip())
                    assert t is not None, item
                    if t.group(2):  # an array column
                        continue
                    base = domains.get(t.group(1).lower(), t.group(1))
                    base = re.sub(r"^BLOB.*", "TEXT", base, flags=re.IGNORECASE)
                    base = "CHAR(1)" if base.upper() == "CHAR" else base
                    extra = [k for k in ("NOT NULL", "PRIMARY KEY", "UNIQUE") if k in " ".join(rest.upper().split())]
                    cols.append(" ".join([name, base, *extra]))
            ddl.append(f"CREATE TABLE {table} ({', '.join(cols)})")
        elif re.match(r"CREATE\s+(UNIQUE\s+)?(ASCENDING\s+|DESCENDING\s+)?INDEX", st, re.IGNORECASE):
            ddl.append(re.sub(r"\s+(ASCENDING|DESCENDING)\s+", " ", st, flags=re.IGNORECASE))
        elif head.startswith("ALTER TABLE") and "FOREIGN KEY" in st.upper():
            fks.append(" ".join(st.split()))
        elif re.match(r"(INSERT|UPDATE)\s", st, re.IGNORECASE):
            data.append(st)
    return ddl, data, fks


def load_firebird(url: str, sql: str, *, fks: bool) -> None:
    ddl, data, foreign = translate(sql)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET datestyle = 'ISO, MDY'")
        for st in ddl:
            conn.exec_driver_sql(st)
        conn.exec_driver_sql(_TRIGGER)
        for st in data:
            conn.exec_driver_sql(st.replace("%", "%%"))
        for st in foreign if fks else []:
            conn.exec_driver_sql(st)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def firebird_truth(sql: str) -> set[frozenset[tuple[str, str]]]:
    """Its single-column foreign keys (a data map reference is one column; the composite key employee ->
    job is left out)."""
    out = set()
    for st in translate(sql)[2]:
        m = re.search(r"ALTER TABLE (\w+) ADD FOREIGN KEY \((\w+)\) REFERENCES (\w+) \((\w+)\)", st, re.IGNORECASE)
        if m:
            out.add(frozenset({(m.group(1).lower(), m.group(2).lower()), (m.group(3).lower(), m.group(4).lower())}))
    return out


def _generic(type_: sa.types.TypeEngine[object]) -> sa.types.TypeEngine[object]:
    """One engine's own types (MONEY, DOUBLE PRECISION, SQLite's DATETIME) as generic ones."""
    try:
        return type_.as_generic()
    except NotImplementedError:
        return sa.String()


def split(src: str, groups: dict[str, tuple[str, set[str]]]) -> None:
    """Copy `src`'s tables into other databases: {target URL: (unused label, tables)}. Indexes, keys and the
    foreign keys within a group come along; a foreign key to a table of another group does not (no database
    declares one across systems)."""
    source = sa.create_engine(src)
    meta = sa.MetaData()
    meta.reflect(source)
    for url, (_, tables) in groups.items():
        target = sa.create_engine(url)
        out = sa.MetaData()
        for name in sorted(tables):
            src_t = meta.tables[name]
            cols = [
                sa.Column(c.name, _generic(c.type), primary_key=c.primary_key, nullable=c.nullable)
                for c in src_t.columns
            ]
            fks = [
                sa.ForeignKeyConstraint([c.parent.name for c in fk.elements], [c.target_fullname for c in fk.elements])
                for fk in src_t.foreign_key_constraints
                if fk.elements[0].target_fullname.split(".")[-2] in tables
            ]
            uniq = [
                sa.UniqueConstraint(*[c.name for c in u.columns])
                for u in src_t.constraints
                if isinstance(u, sa.UniqueConstraint)
            ]
            t = sa.Table(name, out, *cols, *fks, *uniq)
            for ix in src_t.indexes:
                sa.Index(f"{ix.name}_copy", *[t.c[c.name] for c in ix.columns], unique=bool(ix.unique))
        out.create_all(target)
        with source.connect() as read, target.begin() as write:
            if target.dialect.name == "postgresql":  # rows that point at rows of their own table, in any order
                write.exec_driver_sql("SET session_replication_role = replica")
            with warnings.catch_warnings():  # mutually dependent tables (department, employee): any order will do
                warnings.simplefilter("ignore", sa.exc.SAWarning)
                ordered = out.sorted_tables
            for table in ordered:  # parents before children
                rows = [dict(r._mapping) for r in read.execute(sa.select(meta.tables[table.name]))]
                if rows:
                    write.execute(table.insert(), rows)
        if target.dialect.name == "postgresql":
            with target.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        target.dispose()
    source.dispose()
