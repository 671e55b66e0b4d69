"""The distributed runner: Celery on Redis or RabbitMQ. Messages carry task ids only.

The state database stays the truth. A message says "look at task X"; the worker claims X's lease
(a conditional UPDATE) before running it, so a duplicate message is a no-op. Late acknowledgement
with reject-on-worker-lost means a worker killed mid-task leaves its message to be delivered again;
a sweeper re-sends tasks that are due but unclaimed (a message lost with a broker, a holding period
that ended), so nothing accepted is ever left behind.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import kombu.exceptions
import redis.exceptions
from celery import Celery
from celery.exceptions import CPendingDeprecationWarning
from kombu.transport import redis as kombu_redis

from dsar import log
from dsar.errors import Unavailable
from dsar.kit.ids import new_secret

_log = log.get("dsar.jobs")
TASK_NAME = "dsar.run_task"


# Publishing waits at most about a second for a broker that is down: the caller is an API request.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}


class _RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, made to fail like a lost connection once its connection was collected.

    When the broker goes away, the Celery consumer collects its connection (which detaches the transport
    from it) and closes it again. A channel that was waiting in BRPOP is not marked closed by the first
    close (the read raises), so the second close tries to put the unacknowledged messages of the tasks
    still running back into Redis and reads the detached connection's settings: `AttributeError: 'NoneType'
    object has no attribute 'hostname'`, an "Unrecoverable error" that made `dsar worker` exit (kombu 5.x).
    The acknowledgement of a task that finishes after the reconnect hits the same dead channel. Raising
    the connection error that this is turns both into what Celery already handles: the close is given up
    (Redis redelivers the message after the visibility timeout) and the late ack is logged, not fatal. A
    duplicate delivery is harmless: the state database decides who runs a task."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection is None or self.connection.client is None:  # closed, or detached by collect()
            raise redis.exceptions.ConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with `_RedisChannel`; used for `redis://` broker URLs."""

    Channel = _RedisChannel


_TRANSPORTS = {"redis": f"{__name__}:RedisTransport"}


class BrokerUnavailable(Unavailable):
    """Redis or RabbitMQ cannot be reached: a message was not sent (the sweeper sends it again later)."""

    def __init__(self, message: str) -> None:
        super().__init__("broker", message)


def create_celery(broker_url: str, queue: str) -> Celery:
    app = Celery("dsar", broker=broker_url, set_as_current=False)
    transport = _TRANSPORTS.get(urlsplit(broker_url).scheme)
    if transport is not None:
        app.conf.broker_transport = transport
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        # A worker outlives any broker outage: it retries the connection forever (Celery's default gives up
        # after 100 attempts and exits), at start as after a loss.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # Tasks that run when the connection is lost go on: they end the task row in the state database, and
        # the message they can no longer acknowledge comes back later as a harmless duplicate.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={"visibility_timeout": 3600},  # Redis: redeliver unacked messages
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def register(app: Celery, handle: Callable[[str], object]) -> Any:
    """The one Celery task: claim task `task_id` and run it (a no-op if it is taken or finished)."""

    # shared=False: registered on this app only (a shared task would make every later app of the process
    # run the first registration's handler).
    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True, shared=False)  # type: ignore[untyped-decorator]
    def run_task(task_id: str) -> None:
        handle(task_id)

    return run_task


class CeleryRunner:
    """The API side: after a commit, send "look at task X" to the queue."""

    def __init__(self, app: Celery, queue: str) -> None:
        self.app, self.queue = app, queue

    def send(self, task_id: str) -> None:
        """Publish "look at task X"; raises `BrokerUnavailable` when the broker cannot be reached."""
        try:
            self.app.send_task(TASK_NAME, args=[task_id], queue=self.queue, retry_policy=_PUBLISH_RETRY)
        except (kombu.exceptions.OperationalError, redis.exceptions.ConnectionError, OSError) as exc:
            raise BrokerUnavailable(f"The broker cannot be reached ({type(exc).__name__}).") from exc

    def notify(self, task_id: str) -> None:
        """After a commit: the task is accepted even if the broker is down (the workers' sweeper re-sends it)."""
        try:
            self.send(task_id)
        except Exception as exc:
            _log.warning("notify_failed", task_id=task_id, error=type(exc).__name__)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def sweeper(
    send: Callable[[str], None], overdue: Callable[[timedelta], list[str]], every: timedelta
) -> Callable[[str, Callable[[], bool]], bool]:
    """A background-loop step that re-sends, every `every`, the tasks due but unclaimed for as long (a lost
    message, a holding period that ended). A send that fails (the broker is down) ends this sweep with
    `BrokerUnavailable`; the next sweep tries again."""
    last = [-float("inf")]

    def sweep(_owner: str, _stopping: Callable[[], bool]) -> bool:
        if time.monotonic() - last[0] < every.total_seconds():
            return False
        last[0] = time.monotonic()
        for task_id in overdue(every):
            send(task_id)
        return False

    return sweep


def consume(app: Celery, queue: str, concurrency: int) -> None:
    """Run a Celery worker in this process until it is told to stop (blocking).

    The node name is unique per process: with the default `celery@host`, a second worker on the same host
    dies on RabbitMQ (its exclusive remote-control queue `celery@host.celery.pidbox` is taken)."""
    # Celery warns on every connection loss that cancelling running tasks will become its default; we
    # chose not to cancel (see create_celery).
    warnings.filterwarnings("ignore", category=CPendingDeprecationWarning, message=r"\s*In Celery 5\.1")
    app.worker_main(
        [
            "worker",
            "-n",
            f"dsar-{os.getpid()}-{new_secret(4)}@%h",
            "-Q",
            queue,
            "--pool",
            "threads",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ]
    )
