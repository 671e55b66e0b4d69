"""The data map: where personal data lives and how to walk to it from a subject's identity.

A collection is named `<source>.<name>`; a reference `to: <source>.<collection>.<column>` says that
this collection's `column` holds values of that column, so the walk goes from the referenced
(parent) rows to this collection's rows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, field_validator

from dsar.datamap.http import HttpSource
from dsar.datamap.identities import Kind
from dsar.datamap.manual import ManualSource
from dsar.datamap.odr import OdrSection
from dsar.datamap.portability import PortabilitySection

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    url: str = Field(description="SQLAlchemy URL; ${ENV_VAR} is replaced from the environment")
    description: str = ""
    timezone: Literal["UTC"] = "UTC"
    http: HttpSource | None = Field(None, description="a web API: `url` is its base URL (docs/datamap.md)")
    manual: ManualSource | None = Field(None, description="a person answers for it (docs/manual-sources.md)")


class IdentityMatch(_Strict):
    column: str = Field(pattern=IDENT)
    match: Literal["lower_trim", "exact"] = Field(
        "lower_trim",
        description="lower_trim: lower(trim(column)) = value (index that expression); "
        "exact: column = value (column holds normalised values, or a case-insensitive collation)",
    )


def _one_or_many(value: Any) -> str:
    return "identity-columns" if isinstance(value, list) else "identity-column"


# One column, or a list of them (`email` and `alt_email`); the tags keep pydantic's errors to the branch used,
# and the loader leaves them out of the paths it prints.
IdentityColumns = Annotated[
    Annotated[IdentityMatch, Tag("identity-column")] | Annotated[list[IdentityMatch], Tag("identity-columns")],
    Discriminator(_one_or_many),
]
UNION_TAGS = frozenset({"identity-column", "identity-columns"})


class Reference(_Strict):
    column: str = Field(pattern=IDENT)
    to: str = Field(description="<source>.<collection>.<column> of the parent collection")
    identity: str | None = Field(
        None,
        description="the parent column holds values of this identity (e.g. a phone found in another source): "
        "they are normalised as the identity's kind before the lookup",
    )
    match: Literal["lower_trim", "exact"] = Field("exact", description="as an identity's `match`")

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
    rectifiable: bool = Field(
        False, description="the subject may have it corrected (GDPR Art. 16): `startPersonalDataRectificationTask`"
    )


class Blocker(_Strict):
    """A condition that stops a deletion: a located row whose `column` is not one of `not_in`."""

    column: str = Field(pattern=IDENT)
    not_in: list[str | int | bool] = Field(min_length=1, description="values that do not block (e.g. closed states)")
    code: str = Field("ORDERS_NOT_CLOSED", pattern=r"^[A-Z][A-Z0-9_]*$")
    message: str = "The shopper has one or more unclosed orders."


class ErasurePolicy(_Strict):
    """What a deletion does with the subject's rows of a collection."""

    action: Literal["mask", "delete", "keep"] = Field(
        description="mask: apply each field's `erase` strategy and keep the row (e.g. orders kept for tax law); "
        "delete: delete the rows; keep: change nothing (say why in `reason`)"
    )
    reason: str = ""


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
    identities: dict[str, IdentityColumns] = Field(
        default_factory=dict, description="identity name -> its column, or a list of columns (email, alt_email)"
    )
    references: list[Reference] = Field(default_factory=list)
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list, description="columns never exported (e.g. secrets)")
    processing: Processing
    erasure: ErasurePolicy | None = Field(
        None,
        description="default: delete if a field says delete_row, mask if a field has another strategy, keep otherwise",
    )
    blockers: list[Blocker] = Field(default_factory=list)

    def erasure_action(self) -> Literal["mask", "delete", "keep"]:
        if self.erasure is not None:
            return self.erasure.action
        strategies = {f.erase for f in self.fields.values()}
        if "delete_row" in strategies:
            return "delete"
        return "mask" if strategies & {"null", "replace", "hash"} else "keep"

    def identity_matches(self) -> list[tuple[str, IdentityMatch]]:
        """(identity name, column match) for every identity column, several per identity when listed."""
        out: list[tuple[str, IdentityMatch]] = []
        for name, spec in self.identities.items():
            out.extend((name, m) for m in (spec if isinstance(spec, list) else [spec]))
        return out

    def masks(self) -> dict[str, FieldSpec]:
        """The fields a `mask` erasure changes."""
        return {name: f for name, f in self.fields.items() if f.erase in ("null", "replace", "hash")}

    @field_validator("primary_key", "exclude")
    @classmethod
    def _idents(cls, v: list[str]) -> list[str]:
        for item in v:
            if not item.replace("_", "a").isalnum():
                raise ValueError(f"{item!r} is not a column name")
        return v


def _default_identities() -> dict[str, Kind]:
    return {"email": "email"}


class DataMap(_Strict):
    version: Literal[1] = 1
    identities: dict[str, Kind] = Field(
        default_factory=_default_identities, description="identity name -> kind: email, phone or customer_id"
    )
    sources: dict[str, Source]
    collections: dict[str, Collection]
    odr: OdrSection | None = None
    portability: PortabilitySection | None = None
    # What the loader found suspicious but valid (file:line: what and the fix); `datamap check` prints them.
    _load_warnings: list[str] = PrivateAttr(default_factory=list)

    @property
    def load_warnings(self) -> list[str]:
        return self._load_warnings

    def source_of(self, key: str) -> str:
        return key.split(".", 1)[0]

    def name_of(self, key: str) -> str:
        return key.split(".", 1)[1]

    def manual_sources(self) -> dict[str, ManualSource]:
        """The sources a person answers for (`manual:`), by name."""
        return {name: src.manual for name, src in sorted(self.sources.items()) if src.manual is not None}

    def table_of(self, key: str) -> str:
        return self.collections[key].table or self.name_of(key)
