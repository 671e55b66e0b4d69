"""`dsar serve`, `dsar worker` and `dsar demo`."""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
from pathlib import Path

import typer
import uvicorn
from fastapi import FastAPI

from dsar import log
from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.cli.common import container, fail, load_settings, port_free
from dsar.cli.demo_console import seed_console
from dsar.cli.progress import ProgressLine
from dsar.config import Settings
from dsar.db.migrate import upgrade


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port to listen on"),
    processes: int = typer.Option(
        1, min=1, max=64, help="server processes on the port, each with its own in-process workers (uses more cores)"
    ),
) -> None:
    """The API plus in-process workers (the embedded default)."""
    port_free(host, port)
    settings = load_settings(create=True)
    if processes == 1:
        _serve(settings, host, port)
        return
    with container(settings=settings) as c:
        c.datamap  # noqa: B018  (fail at start, with file and line, if the data map is wrong)
        upgrade(c.db.engine)  # once, before the processes start (they skip it)
    # uvicorn's supervisor starts `processes` children that share the listening socket; each builds its app
    # from the same DSAR_* environment (a process is GIL-bound: one per core serves ~that many times more).
    uvicorn.run(
        "dsar.cli.serve:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=processes,
        log_level="warning",
        access_log=False,
    )


def app_from_environment() -> FastAPI:
    """The app of one `dsar serve --processes N` child: settings from DSAR_*, migrations already applied."""
    settings = Settings()
    log.configure(settings.log_level, settings.log_json)
    return _frozen(create_app(Container(settings, with_workers=True), migrate=False, close=True))


def _frozen(app: FastAPI) -> FastAPI:
    """Freeze what start-up made (modules, schemas, the data map, engines): it lives as long as the server
    process, and frozen it is no longer walked by every full collection (~50 ms each under load, a stall of
    every request in flight; B6 in docs/performance.md)."""
    gc.collect()
    gc.freeze()
    return app


def _serve(settings: Settings, host: str, port: int) -> None:
    with container(with_workers=True, settings=settings) as c:
        c.datamap  # noqa: B018  (fail at start, with file and line, if the data map is wrong)
        app = _frozen(create_app(c))
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def worker() -> None:
    """A worker process only (no API): consumes the Celery queue with DSAR_JOBS=celery, else polls the state DB."""
    settings = load_settings(create=True)
    with container(with_workers=True, settings=settings) as c:
        c.datamap  # noqa: B018
        upgrade(c.db.engine)
        if settings.jobs == "celery":
            c.run_celery_worker()
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        c.runner.start()
        log.get("dsar.worker").info("worker_started", workers=settings.job.workers)
        stop.wait()
        c.runner.stop()


DEMO_EMAIL = "jane.doe@example.com"


def demo(
    port: int = typer.Option(8000, help="port to serve on"),
    dir: Path = typer.Option(Path("./dsar-demo"), "--dir", help="where the demo data and state live"),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
) -> None:
    """Build the demo shop (reused when present), create a demo client, print curl commands, serve."""
    from dsar.demo.generate import build_demo

    port_free(host, port)  # before anything is printed or made
    directory = dir.resolve()
    typer.echo(f"building the demo data in {directory} (reused when present) ...")
    progress = ProgressLine("demo data")
    try:
        info = build_demo(directory, progress=progress, env=os.environ)  # Stripe too, when configured
    except RuntimeError as exc:  # DSAR_DEMO_STRIPE_URL set, but nothing answers there
        progress.close()
        fail(str(exc))
    progress.close()
    base = f"http://{host}:{port}"
    settings = Settings(
        data_dir=directory / "state",
        datamap=info.datamap,
        public_url=os.environ.get("DSAR_PUBLIC_URL", base),
        company_name=os.environ.get("DSAR_COMPANY_NAME", "Demo Shop"),
        privacy_contact=os.environ.get("DSAR_PRIVACY_CONTACT", "privacy@demo-shop.example"),
    )
    client_file = directory / "demo-client.json"
    with container(settings=settings) as c:
        upgrade(c.db.engine)
        if client_file.exists():
            creds = json.loads(client_file.read_text())
        else:
            cid, secret = c.auth.create_client("demo", ["privacy:manage", "files:manage"])
            creds = {"client_id": cid, "client_secret": secret}
            fd = os.open(client_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(creds, fh)
    admin = seed_console(settings, directory)
    typer.echo(demo_instructions(base, creds["client_id"], creds["client_secret"], DEMO_EMAIL))
    typer.echo(
        f"The privacy team's console: {base}/console\n"
        f"  sign in as {admin['email']} with the password {admin['password']}\n"
        "  (a few hundred demo requests in every state; `dsar operators create` adds your team)\n"
    )
    if not settings.odr.smtp_host:
        typer.echo(
            f"The privacy center: {base}/privacy\n"
            f"  no SMTP server is set, so its e-mails (verification codes too) are written as .eml files to\n"
            f"  {settings.data_dir.resolve() / 'outbox'} (readable by your user only)\n"
        )
    _serve(settings, host, port)


def demo_instructions(base: str, client_id: str, secret: str, email: str) -> str:
    py = "python3 -c 'import json,sys; print(json.load(sys.stdin)"
    start = (
        '{"query": "mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: '
        f'\\"{email}\\"}}}}) {{ taskId }} }}"}}'
    )
    query = (
        '{"query": "query { personalDataRetrievalTask(taskId: \\"\'$TASK\'\\") { taskId status '
        'submissionDate lastUpdatedDate dataSubject { type email } dataRetrievalLink errors { code message } } }"}'
    )
    return f"""
dsar demo is ready.
  API client:  client_id={client_id}
               client_secret={secret}
  A subject:   {email}
  GraphiQL:    {base}/graphql   API docs: {base}/docs

Copy and paste, in another terminal:

TOKEN=$(curl -s -X POST {base}/token -d grant_type=client_credentials \\
  -d client_id={client_id} -d client_secret={secret} | {py}["access_token"])')

TASK=$(curl -s {base}/graphql -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
  -d '{start}' | {py}["data"]["startPersonalDataRetrievalTask"]["taskId"])'); echo $TASK

curl -s {base}/graphql -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
  -d '{query}'; echo

LINK=$(curl -s {base}/graphql -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
  -d '{query}' | {py}["data"]["personalDataRetrievalTask"]["dataRetrievalLink"])')
curl -s -o data_retrieval.zip "$LINK" && unzip -o -q data_retrieval.zip -d jane && echo "open jane/index.html"
"""
