"""`python -m dsar.api.openapi` prints the OpenAPI document of the REST surface (committed as docs/openapi.json)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings


def document() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Container(Settings(data_dir=Path(tmp), secret_key="k" * 32)))
        return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(document(), end="")
