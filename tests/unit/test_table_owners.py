"""Each table has one owner: the package whose module declares its model (`dsar.<package>...`).

Outside the owner (migrations excepted) no module imports the owner's `models` module, names one of its model
classes, writes (INSERT, UPDATE, DELETE) through anything imported from the owner, or names its table in SQL
text; it calls the owner's repository functions instead. Found by reading the source with `ast`, so a new
module is covered as soon as it exists.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "dsar"
EXEMPT = ("dsar.migrations",)  # Alembic's env registers every table; revisions create them
_DML = {"insert", "update", "delete"}


@dataclass(frozen=True)
class Model:
    name: str  # the class
    table: str
    module: str  # where it is declared

    @property
    def owner(self) -> str:
        return package_of(self.module)


def package_of(module: str) -> str:
    """`dsar.tasks.repository` -> `dsar.tasks`; a top-level module (`dsar.bootstrap`) is its own package."""
    return ".".join(module.split(".")[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, str]:
    found = {module_name(p): p.read_text() for p in sorted(ROOT.rglob("*.py"))}
    return {m: text for m, text in found.items() if not m.startswith(EXEMPT)}


def models_in(module: str, text: str) -> list[Model]:
    out = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                out.append(Model(node.name, stmt.value.value, module))
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def violations(module: str, text: str, models: list[Model]) -> list[str]:
    """What `module` does with tables it does not own, one line per offence."""
    mine = package_of(module)
    foreign = [m for m in models if m.owner != mine]
    classes = {m.name: m for m in foreign}
    owners = {m.owner for m in foreign}
    tree = ast.parse(text)
    out: list[str] = []
    imported: dict[str, str] = {}  # local name -> the package it was imported from (another table owner)

    def owner_of(mod: str) -> str | None:
        return next((o for o in owners if mod == o or mod.startswith(o + ".")), None)

    sql_dml: set[str] = set()  # local names of SQLAlchemy's insert, update, delete
    sql_modules: set[str] = set()  # local names of the sqlalchemy module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "sqlalchemy.sql"):
            sql_dml |= {a.asname or a.name for a in node.names if a.name in _DML}
        elif isinstance(node, ast.Import):
            sql_modules |= {a.asname or a.name for a in node.names if a.name == "sqlalchemy"}
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            owner = owner_of(node.module)
            if owner is None:
                continue
            for alias in node.names:
                if node.module.endswith(".models"):
                    out.append(f"{module}:{node.lineno} imports {alias.name} from {node.module} (a model module)")
                elif alias.name == "models":
                    out.append(f"{module}:{node.lineno} imports {node.module}.models (a model module)")
                elif alias.name in classes and classes[alias.name].owner == owner:
                    out.append(f"{module}:{node.lineno} imports the model {alias.name} of {owner}")
                imported[alias.asname or alias.name] = owner
        elif isinstance(node, ast.Import):
            for alias in node.names:
                owner = owner_of(alias.name)
                if owner is None:
                    continue
                if alias.name.endswith(".models"):
                    out.append(f"{module}:{node.lineno} imports {alias.name} (a model module)")
                imported[alias.asname or alias.name.split(".")[0]] = owner

    def roots(expr: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name) and n.id in imported}

    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in classes and roots(node.value):
            out.append(f"{module}:{node.lineno} names the model {node.attr} of {classes[node.attr].owner}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            sqlalchemy_dml = (isinstance(func, ast.Name) and func.id in sql_dml) or (
                isinstance(func, ast.Attribute)
                and name in _DML
                and isinstance(func.value, ast.Name)
                and func.value.id in sql_modules
            )
            if sqlalchemy_dml and node.args and roots(node.args[0]):
                out.append(f"{module}:{node.lineno} {name.upper()} on a table of {imported[min(roots(node.args[0]))]}")
            elif isinstance(func, ast.Attribute) and name in _DML and not node.args and roots(func.value):
                out.append(f"{module}:{node.lineno} {name.upper()} on a table of {imported[min(roots(func.value))]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            for m in foreign:
                if re.search(rf"\b(from|into|update|join|table)\s+[\"`]?{re.escape(m.table)}\b", node.value, re.I):
                    out.append(f"{module}:{node.lineno} names the table {m.table} of {m.owner} in SQL text")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "tables":
            key = node.slice
            if isinstance(key, ast.Constant) and key.value in {m.table for m in foreign}:
                out.append(f"{module}:{node.lineno} looks up the table {key.value} in the metadata")
    return out


def all_models(found: dict[str, str]) -> list[Model]:
    return [m for module, text in found.items() for m in models_in(module, text)]


@functools.cache
def src_models() -> list[Model]:
    return all_models(sources())


def test_every_table_has_an_owner_and_one_declaration() -> None:
    models = all_models(sources())
    tables = [m.table for m in models]
    assert len(tables) == len(set(tables)), "a table is declared twice"
    assert {"privacy_tasks", "uploads", "retrieval_batches", "odr_requests", "periodic_jobs"} <= set(tables)
    assert next(m for m in models if m.table == "privacy_tasks").owner == "dsar.tasks"


def test_only_the_owner_of_a_table_touches_it() -> None:
    found = sources()
    models = all_models(found)
    problems = [v for module, text in found.items() for v in violations(module, text, models)]
    assert problems == []


BAD = {
    "models import": "from dsar.tasks.models import COMPLETED\n",
    "models module": "from dsar.tasks import models\n",
    "plain import": "import dsar.tasks.models\n",
    "class import": "from dsar.tasks.models import PrivacyTask\n",
    "class re-exported elsewhere": "from dsar.tasks.repository import PrivacyTask\n",
    "attribute": "import dsar.tasks.repository\nx = dsar.tasks.repository.PrivacyTask\n",
    "update": "from sqlalchemy import update\nfrom dsar.tasks.repository import T\nupdate(T).values(status='x')\n",
    "delete": "import sqlalchemy as sa\nfrom dsar.tasks import repository as r\nsa.delete(r.T)\n",
    "insert method": "from dsar.tasks.repository import T\nT.insert()\n",
    "update aliased": "from sqlalchemy import update as u\nfrom dsar.tasks.repository import T\nu(T)\n",
    "sql text": "from sqlalchemy import text\ntext('UPDATE privacy_tasks SET status = 1')\n",
    "metadata": "from dsar.db.base import Base\nBase.metadata.tables['privacy_tasks']\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_check_finds_each_way_around_the_owner(case: str) -> None:
    models = src_models()
    assert violations("dsar.uploads.example", BAD[case], models), case


def test_the_owner_itself_and_reads_through_its_repository_pass() -> None:
    models = src_models()
    own = "from sqlalchemy import update\nfrom dsar.tasks.models import PrivacyTask\nupdate(PrivacyTask)\n"
    assert violations("dsar.tasks.example", own, models) == []
    reads = (
        '"""Rows from privacy_tasks, in a docstring."""\n'
        "from sqlalchemy import select\n"
        "from dsar.tasks.repository import TASKS_FOR_JOINS as T\n"
        "from dsar.tasks.states import COMPLETED\n"
        "select(T.c.id).where(T.c.status == COMPLETED)\n"
    )
    assert violations("dsar.notifications.example", reads, models) == []
    other_delete = "from dsar.tasks.jobs import result_key\nstorage.delete(result_key('t'))\n"
    assert violations("dsar.odr.example", other_delete, models) == []
