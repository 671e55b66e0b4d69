"""Committed contracts that must not drift: the GraphQL SDL, the settings documentation, the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from dsar.api.graphql.schema import SDL_PATHS, sdl
from dsar.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version", list(SDL_PATHS), ids=lambda v: v or "default")
def test_graphql_sdl_is_committed_and_current(version: str | None) -> None:
    """One SDL per API version shape: no `x-api-version` (api-docs 004's 2024-01-01) and 2024-04-01 on."""
    path = SDL_PATHS[version]
    assert path.read_text() == sdl(version), (
        f"The GraphQL schema drifted from the committed SDL: review the change, then run "
        f"`python -m dsar.api.graphql.schema {version or ''} > src/dsar/api/graphql/{path.name}`"
    )


def test_the_versions_differ_only_in_create_upload_link() -> None:
    old, new = sdl(None), sdl("2024-04-01")
    assert "createUploadLink(input: UploadLinkInput!): UploadLink!" in old
    assert "createUploadLink(input: CreateUploadLinkInput!): CreateUploadLinkResponse" in new
    assert sdl("2024-11-01") == new and sdl("2023-06-01") == old


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
    assert documented <= known | {"DSAR_TEST_SERVICES"}, documented - known


def test_openapi_document_is_committed_and_current() -> None:
    from dsar.api.openapi import document

    current = document()
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == current, "run `python -m dsar.api.openapi > docs/openapi.json` after reviewing the change"
