"""Manual steps: a person answers for a data-map source with no API (docs/manual-sources.md)."""
