"""What the engine hands to the archive: per-collection spool files and per-source reports.

A spool file holds one JSON object per line (orjson, UTF-8): the row as exported, with datetimes
already in ISO 8601 UTC (`...Z`), decimals as strings, bytes as base64. Rows are in a deterministic
order (primary key). Nothing here holds a subject's rows in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dsar.kit.jws import ManifestSigner

Status = Literal["found", "not_found", "failed", "skipped"]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    schema: dict[str, Any]  # JSON Schema of one value, e.g. {"type": ["string", "null"], "format": "date-time"}
    categories: tuple[str, ...] = ()
    description: str = ""


@dataclass
class CollectionResult:
    key: str  # "<source>.<collection>"
    source: str
    name: str
    description: str
    columns: list[ColumnInfo]
    processing: dict[str, Any]  # the data map's Art. 15 facts for this collection
    spool: Path | None = None  # JSON lines, see module docstring
    records: int = 0
    status: Status = "not_found"
    detail: str = ""


@dataclass
class SourceReport:
    name: str
    description: str
    status: Status
    detail: str = ""
    records: int = 0
    collections: list[str] = field(default_factory=list)
    manual: str = ""  # a manual source: answered, no_data, erased or completed_without (docs/manual-sources.md)


@dataclass(frozen=True)
class ArchiveMeta:
    task_id: str
    subject_masked: str  # e.g. "j***@example.com"
    generated_at: datetime
    data_as_of: datetime
    generator: str  # "dsar 0.1.0"
    company: str = "the company"
    contact: str = ""
    public_url: str = ""  # where the service is reached: its public keys are at <public_url>/.well-known/jwks.json
    signer: ManifestSigner | None = None  # signs manifest.json (format 1.1); None: an unsigned 1.0 archive

    @property
    def key_id(self) -> str:
        return self.signer.kid if self.signer is not None else ""
