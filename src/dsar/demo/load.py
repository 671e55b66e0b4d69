"""Copy the demo SQLite sources into PostgreSQL or MariaDB/MySQL, to show and test dsar on real servers.

E-mail identities are matched as lower(trim(column)): PostgreSQL (and SQLite) index that expression;
MariaDB 10.11 cannot, so there a stored generated `<column>_normalized` holds it and the rewritten
data map matches that column exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from dsar.datamap.loader import load
from dsar.datamap.model import DataMap
from dsar.demo.generate import MARKER_TABLE

BATCH = 5000
NORMALIZED = "{}_normalized"


def copy_sources(demo_dir: Path, targets: Mapping[str, str]) -> None:
    """Copy every table of each named demo source (`{source: SQLAlchemy URL}`) into that database."""
    datamap = _datamap(demo_dir)
    for source, url in targets.items():
        if source not in datamap.sources:
            raise ValueError(f"the demo has no source {source!r}; use one of {sorted(datamap.sources)}")
        identities: dict[str, list[str]] = {}
        for key, coll in datamap.collections.items():
            if datamap.source_of(key) == source:
                columns = [i.column for _, i in coll.identity_matches() if i.match == "lower_trim"]
                identities.setdefault(datamap.table_of(key), []).extend(columns)
        _copy(datamap.sources[source].url, url, identities)


def datamap_for(demo_dir: Path, urls: Mapping[str, str]) -> str:
    """The demo data map as YAML text, pointing the named sources at `urls` (as copied by copy_sources)."""
    raw = yaml.safe_load((demo_dir / "datamap.yaml").read_text(encoding="utf-8"))
    here = str(demo_dir.resolve())
    for name, source in raw["sources"].items():
        local = source["url"].replace("${DATAMAP_DIR}", here).replace("${DSAR_DEMO_DIR}", here)
        source["url"] = urls.get(name, local)
        if name not in urls or not _is_mysql(urls[name]):
            continue
        for key, coll in raw["collections"].items():
            if key.split(".", 1)[0] != name:
                continue
            for ident in (coll.get("identities") or {}).values():
                if ident.get("match", "lower_trim") == "lower_trim":
                    normalized = NORMALIZED.format(ident["column"])
                    ident.update(column=normalized, match="exact")
                    coll["exclude"] = [*coll.get("exclude", []), normalized]  # a lookup aid, not data
    header = "# The dsar demo data map, rewritten by dsar.demo.load.datamap_for for copied sources.\n"
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=110)


def _datamap(demo_dir: Path) -> DataMap:
    return load(demo_dir / "datamap.yaml", {"DSAR_DEMO_DIR": str(demo_dir.resolve())})


def _is_mysql(url: str) -> bool:
    return sa.make_url(url).get_backend_name() in ("mysql", "mariadb")


def _target_type(t: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """A portable type for a reflected SQLite column type."""
    if isinstance(t, sa.Boolean):
        return sa.Boolean()
    if isinstance(t, sa.DateTime):
        return sa.DateTime()
    if isinstance(t, sa.Date):
        return sa.Date()
    if isinstance(t, sa.Float):
        return sa.Float()
    if isinstance(t, sa.Numeric):
        return sa.Numeric(t.precision or 12, t.scale if t.scale is not None else 2)
    if isinstance(t, sa.BigInteger):
        return sa.BigInteger()
    if isinstance(t, sa.Integer):
        return sa.Integer()
    if isinstance(t, sa.String) and not isinstance(t, sa.Text) and t.length:
        return sa.String(t.length)
    return sa.Text()


def _tables(src: sa.Engine, identities: Mapping[str, list[str]], mysql: bool) -> tuple[list[sa.Table], sa.MetaData]:
    """Source tables (reflected types, for reading) and target metadata (portable types, indexes)."""
    inspector = sa.inspect(src)
    source_md, target_md = sa.MetaData(), sa.MetaData()
    sources: list[sa.Table] = []
    for name in inspector.get_table_names():
        if name == MARKER_TABLE:
            continue
        columns = inspector.get_columns(name)  # not get_indexes: it warns on expression indexes
        sources.append(sa.Table(name, source_md, *(sa.Column(c["name"], c["type"]) for c in columns)))
        pk = inspector.get_pk_constraint(name)["constrained_columns"]
        fks = inspector.get_foreign_keys(name)
        table = sa.Table(
            name,
            target_md,
            *(
                sa.Column(c["name"], _target_type(c["type"]), nullable=c["nullable"], autoincrement=False)
                for c in columns
            ),
            sa.PrimaryKeyConstraint(*pk),
            *(
                sa.ForeignKeyConstraint(
                    fk["constrained_columns"], [f"{fk['referred_table']}.{c}" for c in fk["referred_columns"]]
                )
                for fk in fks
            ),
        )
        for fk in fks:
            cols = fk["constrained_columns"]
            if cols != pk:
                sa.Index(f"ix_{name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
        for col in identities.get(name, []):
            normalized = NORMALIZED.format(col)
            if mysql:
                length = getattr(table.c[col].type, "length", None) or 255
                table.append_column(
                    sa.Column(normalized, sa.String(length), sa.Computed(f"lower(trim({col}))", persisted=True))
                )
                sa.Index(f"ix_{name}_{normalized}", table.c[normalized])
            else:
                sa.Index(f"ix_{name}_{normalized}", sa.func.lower(sa.func.trim(table.c[col])))
    return sources, target_md


def _copy(src_url: str, dst_url: str, identities: Mapping[str, list[str]]) -> None:
    src, dst = sa.create_engine(src_url), sa.create_engine(dst_url)
    try:
        sources, target_md = _tables(src, identities, dst.dialect.name in ("mysql", "mariadb"))
        with dst.begin() as conn:
            target_md.drop_all(conn, checkfirst=True)
            target_md.create_all(conn)
        by_name = {t.name: t for t in sources}
        with src.connect() as reader:
            for target in target_md.sorted_tables:
                source = by_name[target.name]
                result = reader.execution_options(yield_per=BATCH).execute(
                    sa.select(source).order_by(*(source.c[c.name] for c in target.primary_key))
                )
                with dst.begin() as conn:
                    for rows in result.partitions():
                        conn.execute(target.insert(), [dict(row._mapping) for row in rows])
    finally:
        src.dispose()
        dst.dispose()
