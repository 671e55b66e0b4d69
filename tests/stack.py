"""The stack the API suites run on: `DSAR_TEST_STACK=local` (default) or `DSAR_TEST_STACK=scale`.

`local` is the embedded default: SQLite state and archives under the test's data dir, the in-process
runner. `scale` is the distributed topology of docs/deployment.md inside the test process: every app
the harnesses build gets a fresh PostgreSQL database, a fresh bucket on the session's moto S3 server
(`DSAR_STORAGE_URL=s3://...`), and `DSAR_JOBS=celery` with Redis as the broker and a queue of its own.
Every app a test builds with workers gets a real Celery consumer in this process running what
`dsar worker` runs in celery mode (the task handler, the heartbeat, the sweeper, the background loops),
so a test's FrozenClock still holds.

Celery runs one worker app per process (its thread pool runs tasks against the process's default app),
so one session-wide Celery worker consumes every app's queue. For each app `dsar worker`'s own set-up
(`Container.run_celery_worker`) runs in a thread, with `register` and `consume` replaced: its handler serves the
app's queue, and "consume" attaches that queue to the session's worker until the app's runner stops.
A stopped runner (tests pause work that way) detaches its queue after its running tasks end: its
messages wait in Redis, as they do while every worker is down.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

STACK = os.environ.get("DSAR_TEST_STACK", "local")
if STACK not in ("local", "scale"):
    raise ValueError(f"DSAR_TEST_STACK must be local or scale, not {STACK!r}")
SCALE = STACK == "scale"
BROKER_URL = os.environ.get("DSAR_TEST_BROKER_URL", "redis://127.0.0.1:6379/0")
CONCURRENCY = 2  # task threads of the session's Celery worker: `dsar worker`'s default (DSAR_JOB__WORKERS)

_lock = threading.Lock()
_databases: list[tuple[str, AbstractContextManager[str]]] = []
_queues: list[str] = []
_template: tuple[str, AbstractContextManager[str]] | None = None
_s3_endpoint: str | None = None


def overrides(values: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Settings for one app on the scale stack, except what the test chose itself (`extra`)."""
    import boto3

    from tests.conftest import fresh_pg_database, need

    if _s3_endpoint is None:
        raise RuntimeError("the scale stack is not started (tests/conftest.py starts it per session)")
    need("redis")
    out: dict[str, Any] = {"jobs": "celery", "broker_url": BROKER_URL}
    if "database_url" not in extra:
        db = fresh_pg_database(template=_migrated_template())
        url = db.__enter__()
        with _lock:
            _databases.append((url, db))
        out["database_url"] = url
    if "storage_url" not in extra:
        bucket = "dsar-t-" + secrets.token_hex(6)
        boto3.client("s3", endpoint_url=_s3_endpoint).create_bucket(Bucket=bucket)
        out["storage_url"] = f"s3://{bucket}/dsar"
    queue = "dsar-t-" + secrets.token_hex(6)
    with _lock:
        _queues.append(queue)
    out["job"] = {**values.get("job", {}), "queue": queue}
    return out


def _migrated_template() -> str:
    """A database migrated once per session: each app's fresh database is a copy (saves a migration each)."""
    global _template
    from tests.conftest import fresh_pg_database

    with _lock:
        if _template is None:
            from sqlalchemy.engine import make_url

            from dsar.db.engine import make_engine
            from dsar.db.migrate import upgrade

            db = fresh_pg_database()
            url = db.__enter__()
            engine = make_engine(url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            _template = (str(make_url(url).database), db)
        return _template[0]


def databases() -> int:
    """How many databases were created so far (see `drop_databases`)."""
    with _lock:
        return len(_databases)


def drop_databases(since: int = 0) -> None:
    """Drop the databases created after the first `since` ones."""
    with _lock:
        dropping = _databases[since:]
        del _databases[since:]
    for _url, db in reversed(dropping):
        db.__exit__(None, None, None)


# The in-process Celery worker ------------------------------------------------------------------------------


class _Worker:
    """One Celery worker (thread pool) for the session; apps attach and detach their queues."""

    def __init__(self) -> None:
        from celery.contrib.testing.worker import TestWorkController

        from dsar.jobs import celery as jobs_celery

        self.idle = "dsar-t-idle-" + secrets.token_hex(6)
        self.app = jobs_celery.create_celery(BROKER_URL, self.idle)
        _original_register(self.app, self._dispatch)
        self.app.set_current()
        self.app.set_default()  # Celery's thread pool runs tasks against the default app
        self.handlers: dict[str, Callable[[str], object]] = {}
        self.running: dict[str, int] = {}
        self.idle_queue = threading.Condition()
        self.hostname = f"dsar-t-{os.getpid()}-{secrets.token_hex(4)}@localhost"
        self.controller = TestWorkController(
            app=self.app,
            hostname=self.hostname,
            pool="threads",
            concurrency=CONCURRENCY,
            queues=[self.idle],
            loglevel="WARNING",
            ready_callback=None,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )
        self.thread = threading.Thread(target=self.controller.start, name="dsar-celery-worker", daemon=True)
        self.thread.start()
        self.controller.ensure_started()

    def _dispatch(self, task_id: str) -> None:
        from celery import current_task
        from celery.exceptions import Reject

        queue = str((current_task.request.delivery_info or {}).get("routing_key"))
        with self.idle_queue:
            handle = self.handlers.get(queue)
            if handle is None:  # its app's runner stopped after the message was fetched: back to its queue
                raise Reject(requeue=True)
            self.running[queue] = self.running.get(queue, 0) + 1
        try:
            handle(task_id)
        finally:
            with self.idle_queue:
                self.running[queue] -= 1
                self.idle_queue.notify_all()

    def _control(self, command: str, queue: str) -> None:
        for _ in range(3):
            method = getattr(self.app.control, command)
            if method(queue, destination=[self.hostname], reply=True, timeout=5):
                return
        raise RuntimeError(f"the test Celery worker did not answer {command} {queue}")

    def attach(self, queue: str, handle: Callable[[str], object]) -> None:
        self.handlers[queue] = handle
        self._control("add_consumer", queue)

    def detach(self, queue: str) -> None:
        """Stop consuming `queue` and wait for its running tasks (a warm shutdown of its worker)."""
        with contextlib.suppress(RuntimeError):
            self._control("cancel_consumer", queue)
        with self.idle_queue:
            self.handlers.pop(queue, None)
            self.idle_queue.wait_for(lambda: not self.running.get(queue), timeout=60)
            self.running.pop(queue, None)

    def stop(self) -> None:
        self.controller.stop(in_sighandler=False)
        self.thread.join(30)
        delete_queue(self.app, self.idle)


_worker: _Worker | None = None
_original_register: Any = None
_registered: dict[str, Callable[[str], object]] = {}
_consuming: dict[str, threading.Event] = {}
_attached: dict[str, threading.Event] = {}


def _register(app: Any, handle: Callable[[str], object]) -> None:
    """`dsar.jobs.celery.register` for the apps of this process: remember the handler of the app's queue."""
    _registered[str(app.conf.task_default_queue)] = handle


def _consume(app: Any, queue: str, concurrency: int) -> None:
    """`dsar.jobs.celery.consume` for the apps of this process: attach the queue until the runner stops."""
    assert _worker is not None
    stop = _consuming[queue]
    _worker.attach(queue, _registered.pop(queue))
    _attached[queue].set()
    stop.wait()
    _worker.detach(queue)


def start(s3_endpoint: str) -> None:
    """Start the scale stack for the session (the S3 server is the session's moto_server)."""
    global _s3_endpoint, _worker, _original_register
    from dsar.bootstrap import Container
    from dsar.jobs import celery as jobs_celery

    _s3_endpoint = s3_endpoint
    _original_register = jobs_celery.register
    jobs_celery.register = _register
    jobs_celery.consume = _consume
    product_runner = Container.__dict__["runner"]

    def runner(c: Container) -> Any:
        """Every app a test builds with workers (the harnesses, live servers) gets the scale stack's runner."""
        if c.settings.jobs == "celery" and c.with_workers and c.settings.run_workers:
            return ScaleRunner(c)
        return product_runner.func(c)

    scale = functools.cached_property(runner)
    scale.__set_name__(Container, "runner")
    Container.runner = scale
    _worker = _Worker()


def stop() -> None:
    """Stop the session's Celery worker, delete the session's queues from Redis, drop its databases."""
    global _worker, _template
    if _worker is not None:
        _worker.stop()
        _worker = None
    drop_databases()
    if _template is not None:
        _template[1].__exit__(None, None, None)
        _template = None
    with _lock:
        queues = list(_queues)
        _queues.clear()
    if queues:
        from dsar.jobs.celery import create_celery

        app = create_celery(BROKER_URL, "dsar-t-cleanup")
        for queue in queues:
            delete_queue(app, queue)


def delete_queue(app: Any, queue: str) -> None:
    with contextlib.suppress(Exception), app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def _celery_worker() -> Callable[[Any, Any], None]:
    """The celery mode of `dsar worker` (consumer set-up, heartbeat, sweeper, background loops)."""
    return lambda container, _settings: container.run_celery_worker()


class ScaleRunner:
    """The runner of an app (with workers) on the scale stack.

    `notify` publishes "look at task X" to the app's queue, as an API replica does. `start` runs
    `dsar worker`'s celery mode for this app in a thread (its queue attached to the session's Celery
    worker); `stop` detaches the queue and stops that worker's loops."""

    def __init__(self, container: Any) -> None:
        from dsar.jobs.celery import CeleryRunner

        self.container = container
        self.queue = str(container.settings.job.queue)
        self.sender = CeleryRunner(container.celery, self.queue)
        self.thread: threading.Thread | None = None

    def notify(self, task_id: str) -> None:
        self.sender.notify(task_id)

    def start(self) -> None:
        if self.thread is not None:
            return
        _consuming[self.queue] = threading.Event()
        attached = _attached[self.queue] = threading.Event()
        run = _celery_worker()
        self.thread = threading.Thread(
            target=run, args=(self.container, self.container.settings), name=f"dsar-worker-{self.queue}", daemon=True
        )
        self.thread.start()
        if not attached.wait(30):
            raise RuntimeError(f"the worker of queue {self.queue} did not start")

    def stop(self) -> None:
        if self.thread is None:
            return
        _consuming[self.queue].set()
        self.thread.join(60)
        self.thread = None


def route_links(client: Any) -> None:
    """Let a TestClient follow links to the S3 server over HTTP (its other requests go to the app)."""
    import httpx
    from httpx._utils import URLPattern

    if SCALE and _s3_endpoint is not None:
        mounts = {**client._mounts, URLPattern(_s3_endpoint): httpx.HTTPTransport()}
        client._mounts = dict(sorted(mounts.items()))
