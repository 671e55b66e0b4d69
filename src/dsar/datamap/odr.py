"""The Open Data Rights section of the data map: the data types `/data` lists and the collections each covers.

```yaml
odr:
  languages: [en, nl]
  data_types:
    Person:
      context: https://schema.org/Person
      collections: [shop.customers, shop.addresses]
      processing_ground: performanceOfContract
      erasable: true
      rectifiable: true
      description: {en: Your account details, nl: Uw accountgegevens}
```
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProcessingGround = Literal[
    "consent",
    "performanceOfContract",
    "legalObligation",
    "vitalInterest",
    "taskInPublicInterest",
    "legitimateInterest",
]
TYPE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
LANGUAGE = r"^[a-z]{2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OdrDataType(_Strict):
    context: str = Field(pattern=r"^https?://\S+$", description="schema.org URL of the type, or the company's own")
    collections: list[str] = Field(min_length=1, description="`<source>.<collection>` keys this type covers")
    processing_ground: ProcessingGround
    erasable: bool
    rectifiable: bool
    description: dict[str, str] = Field(default_factory=dict, description="language code -> description")


class OdrSection(_Strict):
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    data_types: dict[str, OdrDataType] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_and_languages(self) -> OdrSection:
        for lang in self.languages:
            if not re.fullmatch(LANGUAGE, lang):
                raise ValueError(f"languages: {lang!r} is not an ISO 639-1 code such as `en`")
        for name, dtype in self.data_types.items():
            if not re.fullmatch(TYPE_NAME, name):
                raise ValueError(f"data_types: {name!r} is not a type name (letters, digits, `_`, `-`)")
            extra = sorted(set(dtype.description) - set(self.languages))
            if extra:
                raise ValueError(f"data_types.{name}.description: languages {extra} are not listed in `languages`")
        return self

    def collections_of(self, types: list[str]) -> frozenset[str]:
        return frozenset(c for t in types for c in self.data_types[t].collections)


__all__ = ["OdrDataType", "OdrSection", "ProcessingGround"]
