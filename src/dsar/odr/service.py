"""Open Data Rights requests: create within the per-person limit, list, cancel, download, expire.

A request is a privacy task (channel "odr") plus an `odr_requests` row with its data types. Every lookup is
scoped to the signed-in person: another person's request id answers exactly like an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dsar import log
from dsar.datamap.odr import OdrSection
from dsar.db.engine import Database
from dsar.errors import InvalidInput, NotFound
from dsar.kit.clock import Clock
from dsar.kit.ids import is_uuid, new_id
from dsar.odr import repository as repo
from dsar.odr.settings import OdrSettings
from dsar.storage.base import Storage
from dsar.tasks.records import OnOpen, OpenedTask
from dsar.tasks.states import RETRIEVAL

_log = log.get("dsar.odr")

MAX_REACHED = "MaximumAmountOfRequestsReached"
INVALID_TYPES = "InvalidDataTypes"
LANGUAGE = "LanguageNotSupported"
NOT_COMPLETED = "NotCompleted"


@dataclass(frozen=True)
class OdrConfig:
    settings: OdrSettings
    public_url: str
    organisation: str
    legal_entity: str
    contact_email: str


class OdrRequests:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        storage: Storage,
        section: Callable[[], OdrSection | None],
        subject_ref: Callable[[str], str],
        notify: Callable[[str], None],
        config: OdrConfig,
        on_open: OnOpen | None = None,
    ) -> None:
        self.on_open = on_open  # called in the transaction that creates a request's task
        self.db, self.clock, self.storage = db, clock, storage
        self._section, self.subject_ref, self.notify, self.config = section, subject_ref, notify, config
        self.retention = timedelta(days=config.settings.retention_days)

    @property
    def section(self) -> OdrSection:
        section = self._section()
        if section is None:
            return OdrSection.model_construct(languages=["en"], data_types={})
        return section

    # --- public documents ----------------------------------------------------------------------------------

    def settings_doc(self) -> dict[str, Any]:
        c, s = self.config, self.config.settings
        return {
            "forgotPasswordLink": s.forgot_password_link,
            "legalEntity": c.legal_entity,
            "maxNumberOfRequests": s.max_requests,
            "oAuthClientId": s.client_id,
            "oAuthUrl": c.public_url + s.prefix,
            "organisationName": c.organisation,
            "privacyPolicy": s.privacy_policy,
            "privacyContactEmail": c.contact_email,
            "supportedLanaguages": list(self.section.languages),  # sic: the spec's spelling
            "termsOfService": s.terms_of_service,
        }

    def data_doc(self, lang: str = "en") -> list[dict[str, Any]]:
        section = self.section
        if lang not in section.languages:
            raise InvalidInput("The language you are requesting is not supported by this organisation", code=LANGUAGE)
        out = []
        for name, t in section.data_types.items():
            item: dict[str, Any] = {
                "type": name,
                "context": t.context,
                "processingGround": t.processing_ground,
                "isErasable": t.erasable,
                "isRectifiable": t.rectifiable,
            }
            text = t.description.get(lang) or t.description.get("en")
            if text:
                item["description"] = text
            out.append(item)
        return out

    def data_me_doc(self, email: str) -> dict[str, Any]:
        """Every type that may be processed about this person (the data map cannot say more without a search)."""
        return {"account": email, "types": list(self.section.data_types)}

    # --- requests --------------------------------------------------------------------------------------------

    def create(self, email: str, client_id: str, types: list[str] | None) -> dict[str, Any]:
        known = list(self.section.data_types)
        if not types:
            wanted = known
        else:
            wanted = list(dict.fromkeys(types))
            if any(t not in self.section.data_types for t in wanted):
                raise InvalidInput(
                    "The data types that were specified do not match the available datatypes for this organisation.",
                    code=INVALID_TYPES,
                )
        if not wanted:
            raise InvalidInput(
                "The data types that were specified do not match the available datatypes for this organisation.",
                code=INVALID_TYPES,
            )
        ref = self.subject_ref(email)
        task_id = new_id()
        now = self.clock.now()
        with self.db.session() as s:
            repo.lock_account(s, ref)  # two requests of one person at once: the second sees the first
            if repo.in_progress(s, ref) >= self.config.settings.max_requests:
                raise InvalidInput("The maximum amount of requests has been reached.", code=MAX_REACHED)
            repo.create_request(
                s, task_id=task_id, email=email, subject_ref=ref, client_id=client_id, data_types=wanted, now=now
            )
            if self.on_open is not None:
                self.on_open(s, [OpenedTask(task_id, f"odr:{ref}", RETRIEVAL, "odr", email)])
        self.notify(task_id)  # after the commit: the worker must find the row
        _log.info("odr_request_created", task_id=task_id, subject=ref[:16], types=len(wanted))
        return self.get(email, task_id)

    def list(self, email: str) -> list[dict[str, Any]]:
        with self.db.session(write=False) as s:
            rows = repo.list_requests(s, self.subject_ref(email), self.clock.now(), self.retention)
        return [_view(r) for r in rows]

    def _row(self, email: str, request_id: str) -> repo.RequestRow:
        if not is_uuid(request_id):
            raise NotFound("Could not find a data request with this id.")
        with self.db.session(write=False) as s:
            row = repo.get_request(s, self.subject_ref(email), request_id, self.clock.now(), self.retention)
        if row is None:
            raise NotFound("Could not find a data request with this id.")
        return row

    def get(self, email: str, request_id: str) -> dict[str, Any]:
        return _view(self._row(email, request_id))

    def is_complete(self, email: str, request_id: str) -> bool:
        return self._row(email, request_id).completed_at is not None

    def download(self, email: str, request_id: str) -> Iterator[bytes]:
        row = self._row(email, request_id)
        if row.completed_at is None or row.archive_key is None:
            raise InvalidInput("The request you are trying to retrieve has not been completed yet", code=NOT_COMPLETED)
        fh = self.storage.open(row.archive_key)

        def chunks() -> Iterator[bytes]:
            with fh:
                while block := fh.read(256 * 1024):
                    yield block

        return chunks()

    def cancel(self, email: str, request_id: str) -> None:
        """Cancel and delete at once: the rows and whatever archive was already written."""
        self._row(email, request_id)
        with self.db.session() as s:
            keys = repo.delete_requests(s, [request_id])
        for key in keys:
            self.storage.delete(key)
        _log.info("odr_request_deleted", task_id=request_id)

    def delete_expired(self, now: datetime) -> int:
        """The periodic job: delete requests completed more than `retention_days` ago, and their archives."""
        total = 0
        while True:
            with self.db.session() as s:
                ids = repo.expired_ids(s, now, self.retention)
                keys = repo.delete_requests(s, ids)
                repo.delete_sign_ins_before(s, now)
                repo.delete_refresh_before(s, now)
            for key in keys:
                self.storage.delete(key)
            total += len(ids)
            if len(ids) < 500:
                return total


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _view(row: repo.RequestRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requestId": row.id,
        "createdAt": _iso(row.created_at),
        "isCompleted": row.completed_at is not None,
        "dataRequested": row.data_types,
    }
    if row.completed_at is not None:
        out["completedAt"] = _iso(row.completed_at)
    return out
