"""Fides datasets in and out: `dsar datamap import-fides` and `export-fides`.

A Fides dataset (fideslang) lists collections and their fields, each with `data_categories`, and in
`fides_meta` a field's `identity`, `primary_key` and `references` (`{dataset, field: <collection>.<field>,
direction}`). One dataset becomes one source; its collections become `<source>.<collection>`.

References: a field `login.customer_id` with `{field: customer.id, direction: from}` says the walk goes from
`customer` to `login`: in the data map, `login` gets `{column: customer_id, to: <source>.customer.id}`. With
`direction: to` the walk goes the other way: `customer.address_id -> address.id` gives `address` the
reference `{column: id, to: <source>.customer.address_id}`. Without a direction Fides walks both ways; here
the field is taken to point at its parent (`from`), the common case.

Identities: Fides' `email` is the `email` identity (kind email, `lower_trim`), `phone_number` the `phone`
identity (kind phone, `exact`: E.164 as stored), and any custom identity (`customer_id`, `loyalty_id`) an
identity of that name and kind `customer_id` (`exact`). Several identity fields of one collection become one
identity with a list of columns. Export writes the reverse (a customer-id identity under its own name).
Nested fields (documents) have no place in a SQL data map and are left out with a warning. Datasets are
validated with `fideslang` when it is installed (`pip install "dsar[fides]"`).
"""

from __future__ import annotations

import json
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
    identities: dict[str, list[str]] = field(default_factory=dict)  # dsar identity name -> columns
    refs: list[tuple[str, str]] = field(default_factory=list)  # (column, to)
    fields: dict[str, list[str]] = field(default_factory=dict)
    all_fields: list[str] = field(default_factory=list)
    description: str = ""
    erase: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # column -> (strategy, replacement)
    delete: bool = False  # the collection's masking strategy is `delete`


# dsar's field strategies and Fides' masking strategies (fides_meta.masking_strategy_override)
_TO_FIDES = {"null": "null_rewrite", "replace": "string_rewrite", "hash": "hmac"}
_FROM_FIDES = {"null_rewrite": "null", "string_rewrite": "replace", "hmac": "hash", "hash": "hash"}


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


# Fides' standard identities and the dsar kinds they are; any other (custom) identity is a customer id
_KIND_OF = {"email": "email", "phone_number": "phone"}
_NAME_OF = {"email": "email", "phone_number": "phone"}
_FIDES_OF = {"email": "email", "phone": "phone_number"}  # dsar kind -> Fides identity (custom: the dsar name)
MATCH = {"email": "lower_trim", "phone": "exact", "customer_id": "exact"}


def identity_of(fides: str, kinds: dict[str, str]) -> str:
    """The dsar identity name of a Fides identity, declared in `kinds` (name -> kind) on first use."""
    kind = _KIND_OF.get(fides, "customer_id")
    name = _NAME_OF.get(fides) or re.sub(r"[^A-Za-z0-9_]", "_", fides)
    if not IDENT.match(name):
        name = "id_" + name
    while kinds.get(name, kind) != kind:  # a custom identity named like a standard one of another kind
        name += "_custom"
    kinds[name] = kind
    return name


def _source_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return name if IDENT.match(name) else "s_" + name


def import_fides(datasets: list[dict[str, Any]], urls: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The data map (YAML text) for Fides datasets, and warnings. `urls`: dataset fides_key -> source URL
    (else `${<SOURCE>_URL}`, set in the environment)."""
    urls = urls or {}
    warnings: list[str] = []
    colls: dict[tuple[str, str], _Coll] = {}
    kinds: dict[str, str] = {"email": "email"}
    names = {str(ds["fides_key"]): _source_name(str(ds["fides_key"])) for ds in datasets}
    for ds in datasets:
        src = names[str(ds["fides_key"])]
        for c in ds.get("collections") or []:
            coll = colls.setdefault((src, str(c["name"])), _Coll(description=str(c.get("description") or "")))
            override = ((c.get("fides_meta") or {}).get("masking_strategy_override") or {}).get("strategy")
            coll.delete = override == "delete"
    for ds in datasets:
        src = names[str(ds["fides_key"])]
        for c in ds.get("collections") or []:
            cname = str(c["name"])
            coll = colls[(src, cname)]
            for f in c.get("fields") or []:
                _field(f, src, cname, coll, colls, names, kinds, warnings)
    lines = [
        "# Data map imported from Fides datasets by `dsar datamap import-fides`.",
        "# REVIEW: `processing` holds placeholders (Fides keeps purposes in systems, not datasets);",
        "# erase strategies are proposals from the data categories.",
        "version: 1",
        "identities:",
        *(f"  {name}: {kind}" for name, kind in kinds.items()),
        "sources:",
    ]
    for key, src in names.items():
        url = urls.get(key) or "${" + f"{src.upper()}_URL" + "}"
        lines += [f"  {src}:", f"    url: {q(url)}", f"    description: {q(f'Fides dataset {key}')}"]
    lines.append("collections:")
    for (src, cname), coll in colls.items():
        # a dataset that sets masking strategies has chosen them: its other fields are kept, not guessed at
        chosen = any(c.erase or c.delete for (s, _), c in colls.items() if s == src)
        lines += _render(src, cname, coll, kinds, warnings, propose=not chosen)
    return "\n".join(lines) + "\n", warnings


def _field(
    f: dict[str, Any],
    src: str,
    cname: str,
    coll: _Coll,
    colls: dict[tuple[str, str], _Coll],
    names: dict[str, str],
    kinds: dict[str, str],
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
    if ident:
        coll.identities.setdefault(identity_of(str(ident), kinds), []).append(fname)
    masking = meta.get("masking_strategy_override") or {}
    if masking.get("strategy"):
        strategy = _FROM_FIDES.get(str(masking["strategy"]))
        if strategy is None:
            warnings.append(
                f"{src}.{cname}.{fname}: masking strategy {masking['strategy']!r} has no equal here; "
                "a strategy is proposed from the categories"
            )
        else:
            value = (masking.get("configuration") or {}).get("rewrite_value")
            coll.erase[fname] = (strategy, str(value) if strategy == "replace" and value is not None else None)
            if strategy == "replace" and value is None:
                coll.erase[fname] = ("replace", "Erased")
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


def _render(
    src: str, cname: str, coll: _Coll, kinds: dict[str, str], warnings: list[str], *, propose: bool
) -> list[str]:
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
    for name, cols in coll.identities.items():
        kind = kinds[name]
        if kind == "phone":
            out.append(
                "      # REVIEW: a phone is looked up in E.164 (+4930901820) as stored; the column must hold that"
            )
        elif kind == "customer_id":
            out.append(f"      # REVIEW: Fides custom identity {name!r}, read as a customer id (compared as stored)")
        items = [f"{{column: {q(c)}, match: {MATCH[kind]}}}" for c in cols]
        out.append(f"      {name}: {items[0] if len(items) == 1 else '[' + ', '.join(items) + ']'}")
    if coll.refs:
        out.append("    references:")
        out.extend(f"      - {{column: {q(c)}, to: {to}}}" for c, to in coll.refs)
    personal = {n: cats for n, cats in coll.fields.items() if any(c.startswith("user.") for c in cats)}
    if coll.delete:
        out.append("    erasure: {action: delete}  # the dataset's masking strategy: delete")
    out.append("    fields:" if coll.fields else "    fields: {}")
    for name, cats in coll.fields.items():
        spec = f"categories: [{', '.join(q(c) for c in cats)}]"
        if coll.delete:
            pass
        elif name in coll.erase:
            strategy, value = coll.erase[name]
            spec += f", erase: {json.dumps(strategy)}" + (f", replacement: {q(value)}" if value is not None else "")
        elif name in personal and name not in pk and propose:
            first = next(c for c in cats if c.startswith("user."))
            erase, repl, _ = proposal(d.Finding(first, 1.0, ""), Column(name, "", "text", True, None), False)
            if d.family(first) not in (d.EMAIL, d.NAME):
                erase = "null"  # Fides keeps no column types; null works for any nullable column
            spec += f", erase: {q(erase) if erase != 'null' else chr(34) + 'null' + chr(34)}"
            if repl is not None and erase == "replace":
                spec += f", replacement: {q(repl)}"
            out.append(f"      # REVIEW: erase {erase} proposed from {first} (the dataset sets no masking strategy)")
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
    for name, m in coll.identity_matches():
        kind = dm.identities.get(name, "email")
        get(m.column).setdefault("fides_meta", {})["identity"] = _FIDES_OF.get(kind, name)
    for ref in coll.references:
        src, parent, pcol = ref.to.split(".")
        target = f"{dm.table_of(f'{src}.{parent}')}.{pcol}"
        refs = get(ref.column).setdefault("fides_meta", {}).setdefault("references", [])
        refs.append({"dataset": src, "field": target, "direction": "from"})
    delete = coll.erasure_action() == "delete"
    for name, spec in coll.fields.items():
        f = get(name)
        if spec.categories:
            f["data_categories"] = list(spec.categories)
        if spec.description:
            f["description"] = spec.description
        if spec.erase in _TO_FIDES and not delete:
            override: dict[str, Any] = {"strategy": _TO_FIDES[spec.erase]}
            if spec.erase == "replace":
                override["configuration"] = {"rewrite_value": spec.replacement}
            f.setdefault("fides_meta", {})["masking_strategy_override"] = override
    out: dict[str, Any] = {"name": table}
    if coll.description:
        out["description"] = coll.description
    if delete:
        out["fides_meta"] = {"masking_strategy_override": {"strategy": "delete"}}
    out["fields"] = list(fields.values())
    return out
