"""Reading uploaded CSV files as streams: the body check of a PUT, and the rows of a batch.

Nothing here keeps more than a chunk (PUT) or a row (batch) in memory, and no message quotes the content.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from dsar.uploads.errors import FileProblem

EMAIL_COLUMN = "email"
_ZIP_MAGIC = b"PK\x03\x04"


class TextCheck:
    """Fed the chunks of an upload: counts and hashes them, and refuses binary (NUL bytes, invalid UTF-8)."""

    def __init__(self) -> None:
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, chunk: bytes) -> bytes:
        if self.size == 0:
            _refuse_known_binary(chunk)
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise FileProblem(f"The file is binary, not CSV text: it has a NUL byte at offset {self.size + nul}.")
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            offset = self.size - pending + exc.start
            raise FileProblem(f"The file is not UTF-8 text: invalid byte sequence at offset {offset}.") from None
        self.size += len(chunk)
        self.md5.update(chunk)
        return chunk

    def close(self) -> None:
        """The end of the body: a multi-byte character cut short is refused too."""
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileProblem("The file is not UTF-8 text: it ends inside a multi-byte character.") from None


def _refuse_known_binary(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileProblem("The file is UTF-16 text; save it as CSV in UTF-8.")
    if head.startswith(_ZIP_MAGIC):
        raise FileProblem("The file is a ZIP archive (an Excel workbook?), not CSV text; export it as CSV UTF-8.")


@dataclass(frozen=True, slots=True)
class Row:
    """A data row: the line it starts on, and its email cell (None if the row has no such cell or is malformed)."""

    line: int
    email: str | None
    malformed: bool = False


class CsvRows:
    """The data rows of a CSV with a header row naming an `email` column (case-insensitive; BOM tolerated).

    Read from a binary stream line by line; blank lines are skipped and counted in line numbers only.
    A row the CSV parser cannot read (a stray quote, a field over the parser's limit) is yielded as malformed
    and reading goes on; a file that is not UTF-8 text raises FileProblem.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        self._reader = csv.reader(self._text, strict=True)
        self.column = self._header()

    def _header(self) -> int:
        try:
            header = next(self._reader)
        except StopIteration:
            raise FileProblem("The file is empty: it needs a header row with an email column.") from None
        except UnicodeDecodeError:
            raise FileProblem("The file is not UTF-8 text.") from None
        except csv.Error:
            raise FileProblem("The header row (line 1) is not valid CSV.") from None
        names = [name.strip().lower() for name in header]
        if EMAIL_COLUMN not in names:
            raise FileProblem("The header row (line 1) has no email column.")
        return names.index(EMAIL_COLUMN)

    def __iter__(self) -> Iterator[Row]:
        reader = self._reader
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise FileProblem(f"The file is not UTF-8 text (from line {start}).") from None
            except csv.Error:
                yield Row(start, None, malformed=True)
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if not record:
                continue
            yield Row(line, record[self.column] if self.column < len(record) else None)

    def close(self) -> None:
        self._text.close()


__all__ = ["EMAIL_COLUMN", "CsvRows", "Row", "TextCheck"]
