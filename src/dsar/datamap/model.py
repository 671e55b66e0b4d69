"""The data map: where personal data lives and how to walk to it from a subject's identity.

A collection is named `<source>.<name>`; a reference `to: <source>.<collection>.<column>` says that
this collection's `column` holds values of that column, so the walk goes from the referenced
(parent) rows to this collection's rows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    url: str = Field(description="SQLAlchemy URL; ${ENV_VAR} is replaced from the environment")
    description: str = ""
    timezone: Literal["UTC"] = "UTC"


class IdentityMatch(_Strict):
    column: str = Field(pattern=IDENT)
    match: Literal["lower_trim", "exact"] = Field(
        "lower_trim",
        description="lower_trim: lower(trim(column)) = value (index that expression); "
        "exact: column = value (column holds normalised values, or a case-insensitive collation)",
    )


class Reference(_Strict):
    column: str = Field(pattern=IDENT)
    to: str = Field(description="<source>.<collection>.<column> of the parent collection")

    @property
    def parent(self) -> str:
        return self.to.rsplit(".", 1)[0]

    @property
    def parent_column(self) -> str:
        return self.to.rsplit(".", 1)[1]


Erasure = Literal["null", "replace", "hash", "delete_row", "keep"]


class FieldSpec(_Strict):
    categories: list[str] = Field(default_factory=list)
    description: str = ""
    erase: Erasure | None = None
    replacement: str | None = None


class Processing(_Strict):
    """GDPR Art. 15(1) facts for a collection."""

    purpose: str
    legal_basis: str
    retention: str
    recipients: list[str] = Field(default_factory=list)
    origin: str = "Provided by the data subject"


class Collection(_Strict):
    table: str | None = Field(None, description="table name; the collection name when omitted")
    description: str = ""
    primary_key: list[str] = Field(min_length=1)
    identities: dict[str, IdentityMatch] = Field(default_factory=dict)
    references: list[Reference] = Field(default_factory=list)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list, description="columns never exported (e.g. secrets)")
    processing: Processing

    @field_validator("primary_key", "exclude")
    @classmethod
    def _idents(cls, v: list[str]) -> list[str]:
        for item in v:
            if not item.replace("_", "a").isalnum():
                raise ValueError(f"{item!r} is not a column name")
        return v


def _default_identities() -> dict[str, Literal["email"]]:
    return {"email": "email"}


class DataMap(_Strict):
    version: Literal[1] = 1
    identities: dict[str, Literal["email"]] = Field(default_factory=_default_identities)
    sources: dict[str, Source]
    collections: dict[str, Collection]

    def source_of(self, key: str) -> str:
        return key.split(".", 1)[0]

    def name_of(self, key: str) -> str:
        return key.split(".", 1)[1]

    def table_of(self, key: str) -> str:
        return self.collections[key].table or self.name_of(key)
