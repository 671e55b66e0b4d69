"""The job contract: what the handler of a claimed task gets (`TaskJob`), not the worker that runs it.

A handler is registered for a (channel, kind) of task (Data Portability's data queries, ODR's retrievals);
the worker claims the task, builds its `TaskJob` and calls the handler. The handler reads and writes its own
feature's tables through `session`, walks the sources, stores objects and ends the task once through
`finish`/`finish_in` (which refuse when the lease was lost). Exceptions: `SourceError` ends the task;
an outage (`Unavailable`) gives the attempt back; anything else is retried until the attempts run out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from dsar.datamap.model import DataMap
from dsar.engine.execute import Selection, normalize_email
from dsar.engine.results import ArchiveMeta, CollectionResult, SourceReport
from dsar.storage.base import StoredObject


@dataclass(frozen=True)
class TaskRef:
    """The claimed task a handler works on; `owner` is the lease it must finish under."""

    id: str
    owner: str
    kind: str
    channel: str
    email: str  # "" when the subject came by other identities only
    attempts: int
    identities: Mapping[str, str] | None = None  # besides the e-mail: identity name -> normalised value

    def subject(self) -> dict[str, str]:
        """Every identity of the subject, as the engine takes them."""
        out = {"email": normalize_email(self.email)} if self.email.strip() else {}
        return {**out, **(self.identities or {})}


ExtraMembers = Callable[[list[CollectionResult]], Sequence[tuple[str, Callable[[], Iterator[bytes]]]]]


class TaskJob(Protocol):
    """What the handler of one claimed task may use (the worker builds one per run): its feature's tables
    through `session`, the data map, the walk, the object store and the task's end. Nothing else of the
    worker: not its lease, heartbeat or other runs."""

    @property
    def ref(self) -> TaskRef: ...

    @property
    def datamap(self) -> DataMap: ...

    @property
    def max_attempts(self) -> int: ...

    def now(self) -> datetime: ...

    def session(self, *, write: bool = True) -> AbstractContextManager[Session]: ...

    def spool(self) -> Path:
        """An empty work directory for this attempt (the caller removes it)."""

    def retrieve(
        self, spool: Path, selection: Selection | None = None
    ) -> tuple[list[CollectionResult], list[SourceReport]]:
        """Walk the sources for the task's subject into `spool` (raises SourceError after retries)."""

    def retrieve_archive(self, selection: Selection | None = None, extra: ExtraMembers | None = None) -> bool:
        """Walk, stream the archive to `result_key(id)`, finish the task; True if it completed."""

    def archive_meta(self, data_as_of: datetime) -> ArchiveMeta: ...

    def store(self, key: str, chunks: Iterable[bytes], content_type: str, *, fresh: bool = False) -> StoredObject:
        """Write an object; `fresh` first discards what an earlier, killed attempt left of it."""

    def discard(self, key: str) -> None:
        """Delete a stored object (absent is fine)."""

    def finish(self, status: str, code: str | None, message: str | None, **values: object) -> bool:
        """Move the task to a final state once, if we still hold its lease (own transaction)."""

    def finish_in(self, s: Session, status: str, errors: list[dict[str, str]], **values: object) -> bool:
        """`finish` inside the caller's transaction (with the handler's own writes); False if the lease was lost."""


Handler = Callable[[TaskJob], None]


@dataclass(frozen=True)
class ManualOutcome:
    """What the people answering for the manual sources of the data map said about one task.

    `wait_until`: a step is open; the worker gives the task back to run again then (no worker waits).
    `blocked`: (code, message) a step ran out of time under the `block` policy; the task fails.
    Otherwise `reports` (one per manual source, for `about/sources.json`) and `members` (`data/<source>/...`)
    go into the archive; `found` counts the uploaded files (and, for deletions, attested erasures).
    """

    reports: Sequence[SourceReport] = ()
    members: Sequence[tuple[str, Callable[[], Iterator[bytes]]]] = ()
    found: int = 0
    wait_until: datetime | None = None
    blocked: tuple[str, str] | None = None


# Called by the worker before it walks the sources of a retrieval or a deletion (dsar.manual implements it).
ManualGate = Callable[[TaskRef], ManualOutcome]


class Waiting(Exception):
    """A task waits for a person; the worker releases it to run again at `until`, the attempt refunded."""

    def __init__(self, until: datetime) -> None:
        super().__init__("waiting")
        self.until = until


__all__ = ["ExtraMembers", "Handler", "ManualGate", "ManualOutcome", "TaskJob", "TaskRef", "Waiting"]
