"""Fides datasets in and out: `dsar datamap import-fides` and `export-fides`.

A Fides dataset (fideslang) lists collections and their fields, each with `data_categories`, and in
`fides_meta` a field's `identity`, `primary_key` and `references` (`{dataset, field: <collection>.<field>,
direction}`). One dataset becomes one source; its collections become `<source>.<collection>`.

References: a field `login.customer_id` with `{field: customer.id, direction: from}` says the walk goes from
`customer` to `login`: in the data map, `login` gets `{column: customer_id, to: <source>.customer.id}`. With
`direction: to` the walk goes the other way: `customer.address_id -> address.id` gives `address` the
reference `{column: id, to: <source>.customer.address_id}`. Without a direction Fides walks both ways; here
the field is taken to point at its parent (`from`), the common case. Nested fields (documents) have no place
in a SQL data map and are left out with a warning. Datasets are validated with `fideslang` when it is
installed (`pip install "dsar[fides]"`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dsar.datamap.model import DataMap
from dsar.discovery import detectors as d
from dsar.discovery.draft import proposal, q
from dsar.discovery.schema import Column
from dsar.errors import DataMapError

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class _Coll:
    pk: list[str] = field(default_factory=list)
    identities: dict[str, str] = field(default_factory=dict)  # kind -> column
    other_identities: list[tuple[str, str]] = field(default_factory=list)
    refs: list[tuple[str, str]] = field(default_factory=list)  # (column, to)
    fields: dict[str, list[str]] = field(default_factory=dict)
    all_fields: list[str] = field(default_factory=list)
    description: str = ""


def _validate(raw: Any, filename: str) -> list[dict[str, Any]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("dataset"), list):
        raise DataMapError(f"{filename}: not a Fides dataset file (expected a top-level `dataset:` list)")
    try:
        from fideslang.models import Dataset
        from pydantic import ValidationError
    except ImportError:  # optional: the structure is still checked below
        return [x for x in raw["dataset"] if isinstance(x, dict)]
    out = []
    for i, item in enumerate(raw["dataset"]):
        try:
            Dataset.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DataMapError(f"{filename}: dataset[{i}].{where}: {first['msg']}") from None
        out.append(item)
    return out


def read_datasets(texts: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """The datasets of Fides YAML files given as (filename, text)."""
    out: list[dict[str, Any]] = []
    for filename, text in texts:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise DataMapError(f"{filename}:{mark.line + 1 if mark else 1}: not valid YAML") from None
        out.extend(_validate(raw, filename))
    if not out:
        raise DataMapError("no Fides dataset found in the given files")
    return out


def _source_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return name if IDENT.match(name) else "s_" + name


def import_fides(datasets: list[dict[str, Any]], urls: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The data map (YAML text) for Fides datasets, and warnings. `urls`: dataset fides_key -> source URL
    (else `${<SOURCE>_URL}`, set in the environment)."""
    urls = urls or {}
    warnings: list[str] = []
    colls: dict[tuple[str, str], _Coll] = {}
    names = {str(ds["fides_key"]): _source_name(str(ds["fides_key"])) for ds in datasets}
    for ds in datasets:
        src = names[str(ds["fides_key"])]
        for c in ds.get("collections") or []:
            colls.setdefault((src, str(c["name"])), _Coll(description=str(c.get("description") or "")))
    for ds in datasets:
        src = names[str(ds["fides_key"])]
        for c in ds.get("collections") or []:
            cname = str(c["name"])
            coll = colls[(src, cname)]
            for f in c.get("fields") or []:
                _field(f, src, cname, coll, colls, names, warnings)
    lines = [
        "# Data map imported from Fides datasets by `dsar datamap import-fides`.",
        "# REVIEW: `processing` holds placeholders (Fides keeps purposes in systems, not datasets);",
        "# erase strategies are proposals from the data categories.",
        "version: 1",
        "identities:",
        "  email: email",
        "sources:",
    ]
    for key, src in names.items():
        url = urls.get(key) or "${" + f"{src.upper()}_URL" + "}"
        lines += [f"  {src}:", f"    url: {q(url)}", f"    description: {q(f'Fides dataset {key}')}"]
    lines.append("collections:")
    for (src, cname), coll in colls.items():
        lines += _render(src, cname, coll, warnings)
    return "\n".join(lines) + "\n", warnings


def _field(
    f: dict[str, Any],
    src: str,
    cname: str,
    coll: _Coll,
    colls: dict[tuple[str, str], _Coll],
    names: dict[str, str],
    warnings: list[str],
) -> None:
    fname = str(f["name"])
    meta = f.get("fides_meta") or {}
    if f.get("fields"):
        warnings.append(f"{src}.{cname}.{fname}: nested fields left out (a SQL data map has flat columns)")
        return
    coll.all_fields.append(fname)
    if meta.get("primary_key"):
        coll.pk.append(fname)
    ident = meta.get("identity")
    if ident == "email" and "email" not in coll.identities:
        coll.identities["email"] = fname
    elif ident:
        coll.other_identities.append((str(ident), fname))
    cats = [str(x) for x in f.get("data_categories") or []]
    if cats:
        coll.fields[fname] = cats
    for ref in meta.get("references") or []:
        target_ds = names.get(str(ref.get("dataset")))
        parts = str(ref.get("field", "")).split(".")
        if target_ds is None or len(parts) != 2:
            warnings.append(
                f"{src}.{cname}.{fname}: reference to {ref.get('dataset')}.{ref.get('field')} "
                "is not to a flat field of an imported dataset; left out"
            )
            continue
        tcoll, tfield = parts
        if (target_ds, tcoll) not in colls:
            warnings.append(f"{src}.{cname}.{fname}: reference to unknown collection {target_ds}.{tcoll}; left out")
            continue
        if ref.get("direction") == "to":  # the walk goes from this collection to the referenced one
            colls[(target_ds, tcoll)].refs.append((tfield, f"{src}.{cname}.{fname}"))
        else:
            coll.refs.append((fname, f"{target_ds}.{tcoll}.{tfield}"))


def _render(src: str, cname: str, coll: _Coll, warnings: list[str]) -> list[str]:
    key = re.sub(r"[^A-Za-z0-9_]", "_", cname)
    out = [f"  {src}.{key}:"]
    if key != cname:
        out.append(f"    table: {q(cname)}")
    if coll.description:
        out.append(f"    description: {q(coll.description)}")
    pk = coll.pk or (["id"] if "id" in coll.all_fields else coll.all_fields[:1])
    if not coll.pk:
        out.append("    # REVIEW: the dataset names no primary key")
        warnings.append(f"{src}.{cname}: no primary_key in the dataset; took {', '.join(pk) or 'nothing'}")
    out.append(f"    primary_key: [{', '.join(q(c) for c in pk)}]")
    if coll.identities:
        out.append("    identities:")
        for kind, col in coll.identities.items():
            out.append(f"      {kind}: {{column: {q(col)}, match: lower_trim}}")
    for kind, col in coll.other_identities:
        if kind == "email":
            out.append(f"    # REVIEW: {col} is an e-mail identity too; the data map takes one column per identity")
            warnings.append(f"{src}.{cname}.{col}: a second e-mail identity in one collection, kept as a comment")
            continue
        out.append(f"    # fides identity {kind}: {col} (the data map's identities are e-mail only here)")
        warnings.append(f"{src}.{cname}.{col}: identity {kind!r} kept as a comment (e-mail identities only)")
    if coll.refs:
        out.append("    references:")
        out.extend(f"      - {{column: {q(c)}, to: {to}}}" for c, to in coll.refs)
    personal = {n: cats for n, cats in coll.fields.items() if any(c.startswith("user.") for c in cats)}
    out.append("    fields:" if coll.fields else "    fields: {}")
    for name, cats in coll.fields.items():
        spec = f"categories: [{', '.join(q(c) for c in cats)}]"
        if name in personal and name not in pk:
            first = next(c for c in cats if c.startswith("user."))
            erase, repl, _ = proposal(d.Finding(first, 1.0, ""), Column(name, "", "text", True, None), False)
            if d.family(first) not in (d.EMAIL, d.NAME):
                erase = "null"  # Fides keeps no column types; null works for any nullable column
            spec += f", erase: {q(erase) if erase != 'null' else chr(34) + 'null' + chr(34)}"
            if repl is not None and erase == "replace":
                spec += f", replacement: {q(repl)}"
        out.append(f"      {q(name)}: {{{spec}}}")
    out += [
        "    processing:",
        '      purpose: "REVIEW: why this data is processed"',
        '      legal_basis: "REVIEW: the Art. 6(1) GDPR basis"',
        '      retention: "REVIEW: how long it is kept"',
    ]
    return out


def export_fides(dm: DataMap) -> str:
    """Fides datasets (YAML, one per source) for a data map."""
    datasets = []
    for src in sorted(dm.sources):
        collections = []
        for key in sorted(k for k in dm.collections if dm.source_of(k) == src):
            collections.append(_export_collection(dm, key))
        ds: dict[str, Any] = {"fides_key": src, "name": src, "collections": collections}
        if dm.sources[src].description:
            ds["description"] = dm.sources[src].description
        datasets.append(ds)
    doc = {"dataset": datasets}
    _validate(doc, "<export>")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _export_collection(dm: DataMap, key: str) -> dict[str, Any]:
    coll = dm.collections[key]
    table = dm.table_of(key)
    fields: dict[str, dict[str, Any]] = {}

    def get(name: str) -> dict[str, Any]:
        return fields.setdefault(name, {"name": name})

    for name in coll.primary_key:
        get(name).setdefault("fides_meta", {})["primary_key"] = True
    for kind, m in coll.identities.items():
        get(m.column).setdefault("fides_meta", {})["identity"] = dm.identities.get(kind, kind)
    for ref in coll.references:
        src, parent, pcol = ref.to.split(".")
        target = f"{dm.table_of(f'{src}.{parent}')}.{pcol}"
        refs = get(ref.column).setdefault("fides_meta", {}).setdefault("references", [])
        refs.append({"dataset": src, "field": target, "direction": "from"})
    for name, spec in coll.fields.items():
        f = get(name)
        if spec.categories:
            f["data_categories"] = list(spec.categories)
        if spec.description:
            f["description"] = spec.description
    out: dict[str, Any] = {"name": table}
    if coll.description:
        out["description"] = coll.description
    out["fields"] = list(fields.values())
    return out


def check_round_trip(dm: DataMap) -> DataMap:
    """The data map after export and import again (for tests and `--check`)."""
    from dsar.datamap.loader import parse

    text, _ = import_fides(read_datasets([("<export>", export_fides(dm))]), {s: dm.sources[s].url for s in dm.sources})
    return parse(text, "<round trip>")
