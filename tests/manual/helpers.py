"""A data map with a manual source (the demo shop, plus `crm`: a vendor's system searched by a person)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
import yaml

from dsar.bootstrap import Container
from dsar.kit.ids import new_id
from dsar.tasks.jobs import result_key

VENDOR = "searcher@crm-vendor.example"
JANE = "jane.doe@example.com"


def manual_datamap(demo_dir: Path, **manual: Any) -> Path:
    """The demo's data map plus a manual source `crm`; written beside the demo's databases (its ${DATAMAP_DIR})."""
    doc = yaml.safe_load((demo_dir / "datamap.yaml").read_text())
    doc["sources"]["crm"] = {
        "description": "The sales team's CRM (no API)",
        "manual": {"respondent": VENDOR, "instructions": "Search Contacts by e-mail.", **manual},
    }
    path = demo_dir / f"datamap-manual-{new_id()}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def archive_of(c: Container, task_id: str) -> zipfile.ZipFile:
    with c.storage.open(result_key(task_id)) as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


def sources_doc(z: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in orjson.loads(z.read("about/sources.json"))}
