"""The whole distributed topology on loopback, as real processes: for `make cluster`, the distributed
benchmark (bench.queue) and the fault tests (tests/e2e/test_cluster.py).

PostgreSQL for state (a private server: `initdb` into a temporary directory, on a free port; or a fresh
database on the machine's shared server), `moto_server` for S3 (bucket created), the broker (a private
`redis-server` on a free port, or the machine's RabbitMQ with a private queue), N `dsar serve` API replicas
and M `dsar worker` processes over the demo shop. Every private piece can be stopped and started again
(SIGKILL for workers and Redis, `pg_ctl` for PostgreSQL) so tests can inject real faults without touching
the machine's shared services. Not part of the installed package.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"  # + the virtual host
SECRET = "cluster-secret-key-not-for-production-0123456789"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
PG_DIR_PREFIX = "dsar-cluster-pg-"  # private PostgreSQL servers live in $TMPDIR/dsar-cluster-pg-*
CLIENT_ARGS = ["--scope", "privacy:manage", "--scope", "files:manage", "--json"]
START = (
    'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}, '
    'clientToken: {token: "%s"}}) { taskId } }'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {timeout}s") from None
            time.sleep(0.1)


def _exe(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return found


def _pg_bin(name: str) -> str:
    """A PostgreSQL server program (`initdb`, `pg_ctl`): Debian keeps them out of PATH, newest version first."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]), reverse=True)
    path = found[0] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return path


def _rabbitmqctl(*argv: str) -> None:
    subprocess.run([_exe("rabbitmqctl"), "-q", *argv], capture_output=True, check=True, timeout=60)


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Cluster:
    """Start with `start()` (or `with Cluster(...) as c:`), stop everything with `stop()`."""

    workdir: Path
    broker: str = "redis"  # or "rabbitmq"
    apis: int = 2
    workers: int = 2
    customers: int = 2000
    postgres: str = "private"  # a PostgreSQL server of its own (restartable), or "shared": the machine's on 5432
    job: dict[str, str] = field(default_factory=dict)  # DSAR_JOB__* overrides, e.g. {"LEASE_SECONDS": "3"}
    env_extra: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.db_name = "dsar_c_" + secrets.token_hex(5)
        self.pg_port = free_port() if self.postgres == "private" else 5432
        self.pg_admin = f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/postgres"
        self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/{self.db_name}"
        self.pg_dir: Path | None = None  # the private server's directory (data, socket, log), owned by `postgres`
        self.bucket = "dsar-c-" + secrets.token_hex(5)
        self.queue = "dsar-c-" + secrets.token_hex(5)
        self.s3_port = free_port()
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.redis_port = free_port()
        self.vhost = "/"  # RabbitMQ: a private virtual host when rabbitmqctl may create one (start_broker)
        self.api_ports = [free_port() for _ in range(self.apis)]
        self.s3: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None
        self.api_procs: list[subprocess.Popen[bytes] | None] = [None] * self.apis
        self.worker_procs: list[subprocess.Popen[bytes] | None] = [None] * self.workers
        self.client_id = self.client_secret = ""
        self._db_created = False

    # ---- URLs and environment -------------------------------------------------------------------------
    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0" if self.broker == "redis" else RABBITMQ + self.vhost

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.api_ports]

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "AWS_"))}
        env.update(AWS)
        env.update(
            AWS_ENDPOINT_URL=self.s3_url,
            DSAR_DATA_DIR=str(self.workdir / "state"),
            DSAR_DATABASE_URL=self.database_url,
            DSAR_STORAGE_URL=f"s3://{self.bucket}/dsar",
            DSAR_DATAMAP=str(self.workdir / "demo" / "datamap.yaml"),
            DSAR_DEMO_DIR=str(self.workdir / "demo"),
            DSAR_SECRET_KEY=SECRET,
            DSAR_PUBLIC_URL=self.api_urls[0],
            DSAR_JOBS="celery",
            DSAR_BROKER_URL=self.broker_url,
            DSAR_JOB__QUEUE=self.queue,
            DSAR_RUN_WORKERS="false",
            DSAR_LOG_LEVEL=self.log_level,
            DSAR_COMPANY_NAME="Demo Shop",
            DSAR_PORTABILITY__ALLOW_PRIVATE_NOTIFY_URLS="true",  # webhook receivers on loopback
        )
        env.update({f"DSAR_JOB__{k.upper()}": v for k, v in self.job.items()})
        env.update(self.env_extra)
        return env

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.log(name), "ab") as out:
            return subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    # ---- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from dsar.demo.generate import build_demo

        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            build_demo(self.workdir / "demo", customers=self.customers)
            if self.postgres == "private":
                self._init_db_server()
            self._create_database()
            self.start_s3()
            self.start_broker()
            out = subprocess.run(
                [sys.executable, "-m", "dsar", "clients", "create", "--name", "cluster", *CLIENT_ARGS],
                env=self.env,
                capture_output=True,
                check=True,
            )  # also migrates the fresh database, once, before any replica starts
            creds = json.loads(out.stdout)
            self.client_id, self.client_secret = creds["client_id"], creds["client_secret"]
            for i in range(self.apis):
                self.start_api(i, wait=False)
            for i in range(self.workers):
                self.start_worker(i)
            for i in range(self.apis):
                self.wait_api(i)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for p in self.worker_procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in [*self.worker_procs, *self.api_procs]:
            _stop(p)
        _stop(self.s3)
        _stop(self.redis)
        if self.broker == "rabbitmq":
            self._delete_rabbit_vhost()
        if self.pg_dir is not None:
            self._remove_db_server()
        else:
            self._drop_database()

    # ---- PostgreSQL -----------------------------------------------------------------------------------
    def _pg(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run a PostgreSQL server program as the `postgres` user when we are root (the server refuses root)."""
        user = "postgres" if os.geteuid() == 0 else None
        return subprocess.run(
            [_pg_bin(argv[0]), *argv[1:]],
            user=user,
            cwd=self.pg_dir or tempfile.gettempdir(),  # a directory the `postgres` user may enter
            capture_output=True,
            check=check,
            stdin=subprocess.DEVNULL,
        )

    def _pg_ctl(self, *argv: str) -> None:
        assert self.pg_dir is not None
        opts = f"-p {self.pg_port} -k {self.pg_dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
        data, log = str(self.pg_dir / "data"), str(self.pg_dir / "postgres.log")
        self._pg("pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "-t", "60", *argv)

    def _init_db_server(self) -> None:
        """A PostgreSQL server of the cluster's own: `initdb` (trust auth, user `postgres`), then `pg_ctl start`.
        Its directory is outside the work directory, which the `postgres` user may not be able to enter."""
        self._reap_db_servers()
        self.pg_dir = Path(tempfile.mkdtemp(prefix=PG_DIR_PREFIX))
        (self.pg_dir / "owner.pid").write_text(str(os.getpid()))
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.pg_dir, pw.pw_uid, pw.pw_gid)
        data = str(self.pg_dir / "data")
        self._pg("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")
        self._pg_ctl("start")

    def _reap_db_servers(self) -> None:
        """Stop and remove the private servers of clusters whose process died without stopping them (pg_ctl
        runs the server detached, so a SIGKILLed test run would leave it behind)."""
        for owner in Path(tempfile.gettempdir()).glob(f"{PG_DIR_PREFIX}*/owner.pid"):
            try:
                os.kill(int(owner.read_text()), 0)
                continue  # its cluster is running
            except (ProcessLookupError, ValueError):
                pass
            except PermissionError:
                continue
            data = owner.parent / "data"
            if data.exists():
                self._pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
            shutil.rmtree(owner.parent, ignore_errors=True)

    def stop_db(self) -> None:
        """`pg_ctl stop -m fast`: every session is cut at once, the server shuts down cleanly."""
        self._pg_ctl("stop", "-m", "fast")

    def start_db(self) -> None:
        self._pg_ctl("start")

    def restart_db(self) -> None:
        """`pg_ctl restart -m fast`: what an operator's restart (a minor upgrade, a setting) does."""
        self._pg_ctl("restart", "-m", "fast")

    def _remove_db_server(self) -> None:
        assert self.pg_dir is not None
        log = self.pg_dir / "postgres.log"
        if log.exists():
            shutil.copyfile(log, self.log("postgres"))
        self._pg("pg_ctl", "-D", str(self.pg_dir / "data"), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.pg_dir, ignore_errors=True)
        self.pg_dir = None
        self._db_created = False

    def _admin(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")

    def _create_database(self) -> None:
        from sqlalchemy import text

        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        admin.dispose()
        self._db_created = True

    def _drop_database(self) -> None:
        if not self._db_created:
            return
        from sqlalchemy import text

        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.db_name}" WITH ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        admin.dispose()
        self._db_created = False

    def terminate_db_connections(self) -> int:
        """Cut every connection to the state database (what a PostgreSQL restart does to clients)."""
        from sqlalchemy import text

        admin = self._admin()
        with admin.connect() as conn:
            n = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": self.db_name},
            ).scalar_one()
        admin.dispose()
        return int(n)

    def allow_db_connections(self, allow: bool) -> None:
        """Refuse (or accept again) every new connection to the state database, superusers' too."""
        from sqlalchemy import text

        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.db_name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}'))
        admin.dispose()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.exec_driver_sql(sql).all()]
        finally:
            engine.dispose()

    # ---- S3 -------------------------------------------------------------------------------------------
    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name=AWS["AWS_REGION"],
            aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
        )

    def start_s3(self) -> None:
        """Start moto_server on the cluster's port and (re)create the bucket: moto keeps state in memory."""
        self.s3 = self._spawn("s3", [_exe("moto_server"), "-H", "127.0.0.1", "-p", str(self.s3_port)])
        wait_port(self.s3_port, proc=self.s3)
        self.s3_client().create_bucket(Bucket=self.bucket)

    def stop_s3(self) -> None:
        _stop(self.s3)
        self.s3 = None

    def objects(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        pages = self.s3_client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    # ---- broker ---------------------------------------------------------------------------------------
    def start_broker(self) -> None:
        """Redis: a private redis-server without persistence (a restart loses every message). RabbitMQ: the
        machine's shared server, never restarted from here, with a private virtual host (`rabbitmqctl add_vhost`;
        without rabbitmqctl rights, a private queue on `/`)."""
        if self.broker != "redis":
            wait_port(5672, timeout=5)
            vhost = self.queue
            try:
                _rabbitmqctl("add_vhost", vhost)
                _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
                self.vhost = vhost
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                print(f"no private RabbitMQ virtual host ({exc!r}); using /", file=sys.stderr)
            return
        argv = [_exe("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1"]
        self.redis = self._spawn("redis", [*argv, "--save", "", "--appendonly", "no", "--daemonize", "no"])
        wait_port(self.redis_port, proc=self.redis)

    def stop_broker(self) -> None:
        """SIGKILL the private Redis: no persistence, so every queued and unacknowledged message is lost."""
        if self.broker != "redis":
            raise RuntimeError("only the private Redis broker can be stopped")
        if self.redis is not None and self.redis.poll() is None:
            os.kill(self.redis.pid, signal.SIGKILL)
            self.redis.wait(10)
        self.redis = None

    def close_broker_connections(self) -> None:
        """RabbitMQ: the server closes every connection to the cluster's virtual host (`rabbitmqctl
        close_all_connections --vhost`), as a node restart does; other users of the shared server are untouched."""
        if self.broker != "rabbitmq" or self.vhost == "/":
            raise RuntimeError("needs the cluster's private RabbitMQ virtual host")
        _rabbitmqctl("close_all_connections", "--vhost", self.vhost, "dsar cluster fault test")

    def _delete_rabbit_vhost(self) -> None:
        """Remove the private virtual host with its queues (or, on `/`, the private queue)."""
        try:
            if self.vhost != "/":
                _rabbitmqctl("delete_vhost", self.vhost)
                return
            from kombu import Connection

            with Connection(RABBITMQ + "/", connect_timeout=3) as conn:
                conn.default_channel.queue_delete(self.queue)
        except Exception as exc:  # best effort: a leftover empty queue is harmless
            print(f"could not remove {self.vhost} / {self.queue}: {exc!r}", file=sys.stderr)

    # ---- API replicas and workers ---------------------------------------------------------------------
    def start_api(self, i: int, wait: bool = True) -> None:
        argv = [sys.executable, "-m", "dsar", "serve", "--port", str(self.api_ports[i])]
        self.api_procs[i] = self._spawn(f"api-{i}", argv)
        if wait:
            self.wait_api(i)

    def wait_api(self, i: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        proc = self.api_procs[i]
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"api-{i} exited:\n" + self.log(f"api-{i}").read_text()[-3000:])
            try:
                if httpx.get(f"{self.api_urls[i]}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"api-{i} did not start:\n" + self.log(f"api-{i}").read_text()[-3000:])

    def start_worker(self, i: int) -> None:
        self.worker_procs[i] = self._spawn(f"worker-{i}", [sys.executable, "-m", "dsar", "worker"])

    def revive_workers(self) -> int:
        """What a process supervisor (systemd, Kubernetes) does: start again every worker that exited."""
        dead = [i for i, p in enumerate(self.worker_procs) if p is not None and p.poll() is not None]
        for i in dead:
            self.start_worker(i)
        return len(dead)

    def kill_worker(self, i: int) -> None:
        """SIGKILL: no clean-up, no acknowledgement, the lease is left to expire."""
        proc = self.worker_procs[i]
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def create_webhook(self, url: str, events: list[str]) -> dict[str, Any]:
        """`dsar webhooks create --json`: {"id", "url", "events", "secret"}."""
        argv = [sys.executable, "-m", "dsar", "webhooks", "create", "--url", url, "--json"]
        for e in events:
            argv += ["--event", e]
        out = subprocess.run(argv, env=self.env, capture_output=True, check=True)
        return dict(json.loads(out.stdout))

    def client(self, i: int = 0) -> Client:
        return Client(self.api_urls[i], self.client_id, self.client_secret)

    def describe(self) -> str:
        lines = [f"  API {i}:       {u}/graphql" for i, u in enumerate(self.api_urls)]
        lines += [
            f"  client_id:   {self.client_id}",
            f"  secret:      {self.client_secret}",
            f"  state DB:    {self.database_url}" + (f"  (server in {self.pg_dir})" if self.pg_dir else ""),
            f"  S3:          {self.s3_url}  bucket {self.bucket} (AWS_ACCESS_KEY_ID=testing)",
            f"  broker:      {self.broker_url}  queue {self.queue}"
            + (f"  (virtual host {self.vhost})" if self.broker == "rabbitmq" else ""),
            f"  workers:     {self.workers} x `dsar worker` (logs in {self.workdir / 'logs'})",
            f"  demo subject: jane.doe@example.com (data in {self.workdir / 'demo'})",
        ]
        return "\n".join(lines)


class Client:
    """A back-office client of one API replica; retries on connection errors and 5xx (idempotent by clientToken)."""

    def __init__(self, base: str, client_id: str, secret: str) -> None:
        self.base, self.client_id, self.secret = base, client_id, secret
        self.http = httpx.Client(timeout=30)
        self.token = ""

    def close(self) -> None:
        self.http.close()

    def _auth(self) -> None:
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret}
        r = self.http.post(f"{self.base}/token", data=data)
        r.raise_for_status()
        self.token = r.json()["access_token"]

    def gql(self, query: str, attempts: int = 60) -> Any:
        last: object = None
        for _ in range(attempts):
            try:
                if not self.token:
                    self._auth()
                r = self.http.post(
                    f"{self.base}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {self.token}"}
                )
                if r.status_code == 401:
                    self.token = ""
                    continue
                if r.status_code < 500:
                    body = r.json()
                    if not body.get("errors"):
                        return body["data"]
                    codes = {e.get("extensions", {}).get("classification", {}).get("errorCode") for e in body["errors"]}
                    if codes & {400, 403, 404, 409}:
                        raise AssertionError(f"{self.base}: {r.text}")
                last = r.text
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"{self.base}: no answer after {attempts} attempts: {last!r}")

    def start(self, email: str, client_token: str | None = None) -> str:
        token = client_token or str(uuid.uuid4())
        return str(self.gql(START % (email, token))["startPersonalDataRetrievalTask"]["taskId"])
