"""Committed contracts that must not drift: the GraphQL SDL, the settings documentation, the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from dsar.api.graphql.schema import SDL_PATH, sdl
from dsar.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_graphql_sdl_is_committed_and_current() -> None:
    assert SDL_PATH.read_text() == sdl(), (
        "The GraphQL schema drifted from the committed SDL: review the change, then run "
        "`python -m dsar.api.graphql.schema > src/dsar/api/graphql/schema.graphql`"
    )


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names.extend(_env_names(ann, f"{prefix}{name.upper()}__"))
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    missing = [n for n in _env_names(Settings, "DSAR_") if f"`{n}`" not in doc]
    assert not missing, f"docs/settings.md does not document: {missing}"


def test_documented_settings_exist() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    known = set(_env_names(Settings, "DSAR_"))
    documented = set(re.findall(r"`(DSAR_[A-Z_]+)`", doc))
    assert documented <= known | {"DSAR_TEST_SERVICES", "DSAR_API_DOCS"}, documented - known


def test_openapi_document_is_committed_and_current() -> None:
    from dsar.api.openapi import document

    current = document()
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == current, "run `python -m dsar.api.openapi > docs/openapi.json` after reviewing the change"
