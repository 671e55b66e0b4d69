"""Errors of the uploads feature, in the one error tree (`dsar.errors`).

InvalidInput
├── FileNotUploaded    the link was created but no file was PUT to it yet
└── FileProblem        the file is not a CSV we can read (binary, not UTF-8, no email column); `reason` says why
"""

from __future__ import annotations

from dsar.errors import InvalidInput


class FileNotUploaded(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The file has not been uploaded yet.", code="FileNotUploaded")


class FileProblem(InvalidInput):
    """The file's content is not acceptable; `reason` is a sentence for the caller (never the content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code="InvalidFile")
        self.reason = reason


__all__ = ["FileNotUploaded", "FileProblem"]
