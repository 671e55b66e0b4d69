"""Kinds and statuses of privacy tasks: the values other packages compare with (never the model's)."""

from __future__ import annotations

RETRIEVAL = "retrieval"
DELETION = "deletion"
RECTIFICATION = "rectification"

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
ON_HOLD = "ON_HOLD"
FINAL = frozenset({COMPLETED, FAILED})

__all__ = ["COMPLETED", "DELETION", "FAILED", "FINAL", "IN_PROGRESS", "ON_HOLD", "RECTIFICATION", "RETRIEVAL"]
