"""The ODR retrieval job: the standard archive of the requested types plus the `open-data-rights-api/` folder.

Registered in the TaskWorker for ("odr", "retrieval"). A request cancelled while its job runs leaves nothing
behind: the job deletes the archive it wrote when the request is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson

from dsar import log
from dsar.datamap.model import DataMap
from dsar.engine import spool as sealed_spool
from dsar.engine.archive import build_archive
from dsar.engine.execute import Selection
from dsar.engine.results import CollectionResult
from dsar.odr import repository as repo
from dsar.odr.service import OdrRequests
from dsar.tasks import repository as tasks_repo
from dsar.tasks.contract import Handler, TaskJob
from dsar.tasks.jobs import result_key
from dsar.tasks.states import FAILED

_log = log.get("dsar.odr.jobs")
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
FOLDER = "open-data-rights-api"
Members = Sequence[tuple[str, Callable[[], Iterator[bytes]]]]


def odr_members(
    requests: OdrRequests, dm: DataMap, email: str, types: list[str], results: list[CollectionResult]
) -> Members:
    """The ODR folder (schemas, data.json, data-me.json) and one JSON-LD file per requested type."""
    section = requests.section
    by_key = {r.key: r for r in results}
    out: list[tuple[str, Callable[[], Iterator[bytes]]]] = []
    for name in types:
        dtype = section.data_types[name]
        colls = [by_key[k] for k in dtype.collections if k in by_key]
        schema = {
            "@context": dtype.context,
            "type": name,
            "description": dtype.description,
            "processingGround": dtype.processing_ground,
            "isErasable": dtype.erasable,
            "isRectifiable": dtype.rectifiable,
            "collections": [
                {
                    "collection": r.key,
                    "description": r.description,
                    "properties": {c.name: {**c.schema, "description": c.description} for c in r.columns},
                }
                for r in colls
            ],
        }
        out.append((f"{FOLDER}/schemas/{name}.json", _small(orjson.dumps(schema, option=_JSON))))
        out.append((f"linked-data/{name}.jsonld", _bind_graph(dtype.context, name, colls, dm)))
    out.append((f"{FOLDER}/data.json", _small(orjson.dumps(requests.data_doc("en"), option=_JSON))))
    out.append((f"{FOLDER}/data-me.json", _small(orjson.dumps(requests.data_me_doc(email), option=_JSON))))
    return out


def _small(content: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter((content,))


def _bind_graph(context: str, name: str, colls: list[CollectionResult], dm: DataMap) -> Callable[[], Iterator[bytes]]:
    return lambda: _graph(context, name, colls, dm)


def _graph(context: str, name: str, colls: list[CollectionResult], dm: DataMap) -> Iterator[bytes]:
    """A JSON-LD document streamed row by row from the spool files: `@graph` of nodes typed `name`."""
    yield orjson.dumps({"@context": context})[:-1] + b',\n"@graph": ['
    sep = b"\n"
    for r in colls:
        if r.spool is None or r.records == 0 or not r.spool.exists():
            continue
        pk = dm.collections[r.key].primary_key
        with sealed_spool.open_spool(r.spool) as fh:
            for line in fh:
                if not line.strip():
                    continue
                row: dict[str, Any] = orjson.loads(line)
                node = {
                    "@type": name,
                    "@id": f"urn:dsar:{r.key}:" + ":".join(str(row.get(c)) for c in pk),
                    "dsar:collection": r.key,
                    **row,
                }
                yield sep + orjson.dumps(node)
                sep = b",\n"
    yield b"\n]}\n"


def odr_handler(requests: OdrRequests) -> Handler:
    def handle(job: TaskJob) -> None:
        ref = job.ref
        with job.session(write=False) as s:
            types = repo.request_types(s, ref.id)
        if types is None:  # cancelled before it ran; the task row is gone with it
            return
        section = requests.section
        known = [t for t in types if t in section.data_types]
        selection = Selection(section.collections_of(known))
        dm = job.datamap
        done = job.retrieve_archive(
            selection, extra=lambda results: odr_members(requests, dm, ref.email, known, results)
        )
        if not done:
            _no_data_archive(job, requests, known)
        _drop_if_cancelled(job)

    return handle


def _no_data_archive(job: TaskJob, requests: OdrRequests, types: list[str]) -> None:
    """A person without data still gets an archive (README and the ODR folder): ODR has no 'not found' state."""
    ref = job.ref
    with job.session(write=False) as s:
        task = tasks_repo.record(s, ref.id)
        if task is None or task.status != FAILED or not task.errors:
            return
        if task.errors[0].get("code") != "DATA_SUBJECT_NOT_FOUND":
            return
    meta = job.archive_meta(job.now())
    key = result_key(ref.id)
    extra = odr_members(requests, job.datamap, ref.email, types, [])
    job.store(key, build_archive([], [], meta, extra=extra), "application/zip")
    with job.session() as s:
        repo.set_archive_key(s, ref.id, key)


def _drop_if_cancelled(job: TaskJob) -> None:
    task_id = job.ref.id
    with job.session(write=False) as s:
        gone = repo.request_types(s, task_id) is None
    if gone:
        job.discard(result_key(task_id))
        _log.info("odr_cancelled_archive_deleted", task_id=task_id)
