"""Load the data map YAML; every error names the file, the line and what to change."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dsar.datamap import http as http_sources
from dsar.datamap import manual as manual_sources
from dsar.datamap.model import UNION_TAGS, DataMap
from dsar.datamap.portability import cross_check as portability_cross_check
from dsar.errors import DataMapError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Loc = tuple[str | int, ...]


def _to_python(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)  # a mapping entry is where its key is
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode):
                raise DataMapError(f"{key_node.start_mark.line + 1}: use a plain name as key")
            if key in out:
                raise DataMapError(f"{key_node.start_mark.line + 1}: duplicate key {key!r}; keep one")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, (*path, i), lines) for i, child in enumerate(node.value)]
    return yaml.SafeLoader(  # resolve scalars (ints, bools) the way safe_load would
        ""
    ).construct_object(node)


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _balance(text: str) -> int:
    return sum(text.count(o) - text.count(c) for o, c in _PAIRS.items())


def split_items(node: yaml.Node, filename: str, path: Loc = (), seen: set[int] | None = None) -> list[str]:
    """Flow lists (`[a, b]`) whose plain items look like one value that YAML split at its commas: an item
    opens a bracket that a later item closes, e.g. `[IT hosting provider (processor, EU)]` read as the two
    items "IT hosting provider (processor" and "EU)". One warning per such run of items, with its line
    (a list reached again through a YAML alias is reported once)."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return []
    seen.add(id(node))
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            out.extend(split_items(value_node, filename, (*path, str(key_node.value)), seen))
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            out.extend(split_items(child, filename, (*path, i), seen))
        if node.flow_style:
            out.extend(_split_runs(node, filename, path))
    return out


def _split_runs(node: yaml.SequenceNode, filename: str, path: Loc) -> list[str]:
    out: list[str] = []
    run: list[yaml.ScalarNode] = []
    depth = 0
    for child in node.value:
        plain = isinstance(child, yaml.ScalarNode) and child.style is None
        if not plain:
            run, depth = [], 0
            continue
        assert isinstance(child, yaml.ScalarNode)
        if not run and _balance(child.value) <= 0:
            continue
        run.append(child)
        depth += _balance(child.value)
        if depth <= 0:
            items = [c.value for c in run]
            dotted = ".".join(str(p) for p in path)
            out.append(
                f"{filename}:{run[0].start_mark.line + 1}: {dotted}: the items {', '.join(repr(v) for v in items)} "
                f'look like one value split at its commas; quote it: "{", ".join(items)}"'
            )
            run, depth = [], 0
    return out


def _line_for(loc: Loc, lines: Mapping[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _hint(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return f"add `{err['loc'][-1]}`"
    if kind == "extra_forbidden":
        return f"remove `{err['loc'][-1]}` or check its spelling"
    if kind == "literal_error":
        return f"use one of {err['ctx']['expected']}"
    return str(err["msg"])


def parse(text: str, filename: str = "<datamap>", env: Mapping[str, str] | None = None) -> DataMap:
    env = os.environ if env is None else env
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise DataMapError(f"{filename}:{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if node is None:
        raise DataMapError(f"{filename}:1: the data map is empty; declare `sources` and `collections`")
    lines: dict[Loc, int] = {}
    try:
        raw = _to_python(node, (), lines)
    except DataMapError as exc:
        raise DataMapError(f"{filename}:{exc.message}") from None
    if not isinstance(raw, dict):
        raise DataMapError(f"{filename}:1: the data map must be a mapping with `sources` and `collections`")
    problems: list[str] = []
    sources = raw.get("sources")
    for name, src in (sources if isinstance(sources, dict) else {}).items():
        if isinstance(src, dict) and isinstance(src.get("url"), str):

            def _sub(m: re.Match[str], _name: str = name) -> str:
                if m.group(1) not in env:
                    problems.append(
                        f"{filename}:{_line_for(('sources', _name, 'url'), lines)}: sources.{_name}.url uses "
                        f"${{{m.group(1)}}}, which is not set; set the environment variable"
                    )
                    return ""
                return env[m.group(1)]

            src["url"] = _ENV.sub(_sub, src["url"])
    http_sources.prepare(sources, env, filename, lambda loc: _line_for(loc, lines), problems)
    manual_sources.prepare(sources)
    try:
        dm = DataMap.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p not in UNION_TAGS)
            dotted = ".".join(str(p) for p in loc)
            problems.append(f"{filename}:{_line_for(loc, lines)}: {dotted}: {_hint(err)}")
        raise DataMapError("\n".join(problems)) from None
    problems.extend(_cross_check(dm, filename, lines))
    if problems:
        raise DataMapError("\n".join(problems))
    dm.load_warnings.extend(split_items(node, filename))
    return dm


def _cross_check(dm: DataMap, filename: str, lines: Mapping[Loc, int]) -> list[str]:
    out: list[str] = []
    for key, coll in dm.collections.items():
        at = f"{filename}:{_line_for(('collections', key), lines)}: collections.{key}"
        if key.count(".") != 1 or dm.source_of(key) not in dm.sources:
            out.append(f"{at}: name it `<source>.<collection>` with a source declared under `sources`")
            continue
        for ident in coll.identities:
            if ident not in dm.identities:
                line = _line_for(("collections", key, "identities", ident), lines)
                out.append(
                    f"{filename}:{line}: collections.{key}.identities: unknown identity {ident!r}; "
                    f"use one of {sorted(dm.identities)}"
                )
        for i, ref in enumerate(coll.references):
            line = _line_for(("collections", key, "references", i, "to"), lines)
            if ref.to.count(".") != 2 or ref.parent not in dm.collections:
                out.append(
                    f"{filename}:{line}: collections.{key}.references[{i}].to: {ref.to!r} is not "
                    "`<source>.<collection>.<column>` of a declared collection"
                )
            if ref.match == "lower_trim" and ref.identity is None:
                line = _line_for(("collections", key, "references", i, "match"), lines)
                out.append(
                    f"{filename}:{line}: collections.{key}.references[{i}].match: `lower_trim` compares normalised "
                    "identities; add `identity` (e.g. `identity: email`) or use `match: exact`"
                )
            if ref.identity is not None and ref.identity not in dm.identities:
                line = _line_for(("collections", key, "references", i, "identity"), lines)
                out.append(
                    f"{filename}:{line}: collections.{key}.references[{i}].identity: unknown identity "
                    f"{ref.identity!r}; use one of {sorted(dm.identities)}"
                )
        columns = [m.column for _, m in coll.identity_matches()]
        for col in sorted({c for c in columns if columns.count(c) > 1}):
            line = _line_for(("collections", key, "identities"), lines)
            out.append(f"{filename}:{line}: collections.{key}.identities: column {col!r} is listed twice; keep one")
        for col, spec in coll.fields.items():
            at_field = (
                f"{filename}:{_line_for(('collections', key, 'fields', col), lines)}: collections.{key}.fields.{col}"
            )
            if spec.erase == "replace" and spec.replacement is None:
                out.append(f"{at_field}: `erase: replace` needs a `replacement` value")
            if spec.rectifiable and (col in coll.primary_key or col in coll.exclude):
                out.append(f"{at_field}: a key or excluded column cannot be `rectifiable`")
            if spec.erase == "delete_row" and coll.erasure is not None and coll.erasure.action != "delete":
                out.append(f"{at_field}: `erase: delete_row` contradicts `erasure.action: {coll.erasure.action}`")
        if coll.erasure_action() == "mask" and not coll.masks():
            line = _line_for(("collections", key, "erasure"), lines)
            out.append(
                f"{filename}:{line}: collections.{key}: `erasure.action: mask` needs fields with an `erase` "
                "strategy (null, replace or hash)"
            )
        for col in coll.fields:
            if col in coll.exclude:
                line = _line_for(("collections", key, "fields", col), lines)
                out.append(f"{filename}:{line}: collections.{key}.fields.{col} is also in `exclude`; keep one")
    for name, dtype in (dm.odr.data_types if dm.odr else {}).items():
        for i, coll_key in enumerate(dtype.collections):
            if coll_key not in dm.collections:
                line = _line_for(("odr", "data_types", name, "collections", i), lines)
                out.append(
                    f"{filename}:{line}: odr.data_types.{name}.collections[{i}]: {coll_key!r} is not a declared "
                    "collection; use `<source>.<collection>` from `collections`"
                )
    out.extend(portability_cross_check(dm, filename, lambda loc: _line_for(loc, lines)))
    out.extend(http_sources.cross_check(dm, filename, lambda loc: _line_for(loc, lines)))
    out.extend(manual_sources.cross_check(dm, filename, lambda loc: _line_for(loc, lines)))
    return out


def load(path: str | Path, env: Mapping[str, str] | None = None) -> DataMap:
    """Load a data map file; `${DATAMAP_DIR}` in it stands for the file's own directory."""
    p = Path(path)
    env = {**(os.environ if env is None else env), "DATAMAP_DIR": str(p.resolve().parent)}
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataMapError(f"{p}: cannot read the data map ({exc.strerror}); check DSAR_DATAMAP") from None
    return parse(text, str(p), env)
