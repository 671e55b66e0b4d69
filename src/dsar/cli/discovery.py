"""`dsar datamap discover | coverage | import-fides | export-fides`: `register` adds them to the `datamap` group."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import typer

from dsar.cli.common import fail, load_settings
from dsar.cli.progress import ProgressLine
from dsar.datamap.loader import load, parse
from dsar.errors import DataMapError, SourceError

_NAMED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.+)$")


def _verbose(on: bool) -> Callable[[str], None] | None:
    def show(sql: str) -> None:
        typer.echo(f"  {' '.join(sql.split())}", err=True)

    return show if on else None


def _source_failed(exc: SourceError | RuntimeError) -> None:
    fail(exc.message if isinstance(exc, SourceError) else str(exc))


def _source_url(url: str) -> str:
    """A URL the draft can keep: a relative SQLite/DuckDB file made absolute (the draft is read from elsewhere)."""
    if "://" not in url:
        hint = f"sqlite:///{Path(url).resolve()}" if Path(url).is_file() else "postgresql+psycopg://user@host/db"
        fail(f"{url!r} is not a source URL: write a database URL, e.g. {hint}")
    for scheme in ("sqlite:///", "duckdb:///"):
        rest = url.removeprefix(scheme)
        if url.startswith(scheme) and rest and not rest.startswith(("/", ":memory:")):
            path, _, query = rest.partition("?")
            return scheme + str(Path(path).resolve()) + (f"?{query}" if query else "")
    return url


def discover(
    source: list[str] = typer.Option(
        ..., "--source", metavar="URL", help="a source URL, or NAME=URL; repeat for several"
    ),
    sample: int = typer.Option(200, "--sample", min=0, max=100_000, help="rows read per table at most"),
    out: Path = typer.Option(..., "--out", help="where to write the draft data map"),
    no_declared: bool = typer.Option(False, "--no-declared-fks", help="ignore declared foreign keys (to compare)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="print every query run (on stderr)"),
) -> None:
    """Draft a data map from live sources: identities, references, data categories and erasure proposals."""
    from dsar.discovery.across import across_sources
    from dsar.discovery.draft import render
    from dsar.discovery.scan import scan_source, source_name

    named: list[tuple[str, str]] = []
    taken: set[str] = set()
    for s in source:
        m = _NAMED.match(s)
        name, url = (m.group(1), m.group(2)) if m and "://" not in m.group(1) else (source_name(s, taken), s)
        url = _source_url(url)
        if name in taken:
            fail(f"two sources are named {name!r}; name them: --source NAME=URL")
        taken.add(name)
        named.append((name, url))
    progress = ProgressLine("discovering")
    log = _verbose(verbose)
    scans = []
    try:
        for name, url in named:
            try:
                scans.append(
                    scan_source(
                        name,
                        url,
                        sample=sample,
                        log=log,
                        progress=progress,
                        use_declared=not no_declared,
                    )
                )
            except (SourceError, RuntimeError) as exc:
                progress.close()
                _source_failed(exc)
        progress("references across sources", 0, 1)
        cross = across_sources(scans, log=log) if len(scans) > 1 else []
    finally:
        progress.close()
    text = render(scans, cross)
    try:
        parse(text, str(out), env={})  # the draft must load as written (its ${..._PASSWORD} aside)
    except DataMapError as exc:
        if "is not set" not in exc.message:
            fail(f"the draft does not load (a bug; please report it): {exc.message.splitlines()[0]}")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    tables = sum(len(s.tables) for s in scans)
    review = sum(1 for line in text.splitlines() if "# REVIEW" in line or '"REVIEW:' in line)
    colls = len(re.findall(r"^  [A-Za-z_]\w*\.[A-Za-z_]\w*:$", text, re.MULTILINE))
    typer.echo(
        f"wrote {out}: {tables} tables read, {colls} collections, {review} item(s) marked REVIEW; "
        f"check it with `dsar datamap check {out}`"
    )


def coverage(
    datamap: Path | None = typer.Option(None, "--datamap", help="the data map; DSAR_DATAMAP when omitted"),
    sample: int = typer.Option(200, "--sample", min=1, max=100_000, help="rows read per table at most"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="print every query run (on stderr)"),
) -> None:
    """List personal data in the sources that the data map does not reach; exit 1 when there is any."""
    from dsar.discovery.coverage import coverage as run

    path = datamap or load_settings(state=False).datamap
    if path is None:
        fail("give the data map with --datamap, or set DSAR_DATAMAP")
    try:
        dm = load(path)
    except DataMapError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    progress = ProgressLine("coverage")
    try:
        report = run(dm, sample=sample, log=_verbose(verbose), progress=progress)
    except (SourceError, RuntimeError) as exc:
        progress.close()
        _source_failed(exc)
    finally:
        progress.close()
    for gap in report.uncovered:
        typer.echo(f"uncovered: {gap.line()}")
    for w in report.wrong:
        typer.echo(f"warning: {w}")
    typer.echo(
        f"{report.tables} tables read; {report.covered} personal column(s) covered, {len(report.uncovered)} not "
        f"covered, {len(report.wrong)} with doubtful categories"
    )
    if not report.ok:
        raise typer.Exit(1)


def import_fides(
    files: list[Path] = typer.Argument(..., help="Fides dataset YAML files"),
    out: Path = typer.Option(..., "--out", help="where to write the data map"),
    url: list[str] = typer.Option([], "--url", help="DATASET_KEY=URL: the source of a dataset; repeat"),
) -> None:
    """Turn Fides datasets into a dsar data map (sources get ${NAME_URL} unless --url names them)."""
    from dsar.discovery.fides import import_fides as run
    from dsar.discovery.fides import read_datasets

    urls: dict[str, str] = {}
    for item in url:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            fail(f"--url {item!r}: write DATASET_KEY=URL")
        urls[key] = value
    texts = []
    for f in files:
        try:
            texts.append((str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {f}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}")
    try:
        text, warnings = run(read_datasets(texts), urls)
        parse(text, str(out), env={"DATAMAP_DIR": "."} | {k: "sqlite://" for k in _env_names(text)})
    except DataMapError as exc:
        fail(exc.message.splitlines()[0])
    for w in warnings:
        typer.echo(f"warning: {w}", err=True)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}; fill in each collection's `processing` (marked REVIEW)")


def _env_names(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))


def export_fides(
    out: Path = typer.Option(..., "--out", help="where to write the Fides datasets"),
    datamap: Path | None = typer.Option(None, "--datamap", help="the data map; DSAR_DATAMAP when omitted"),
) -> None:
    """Write the data map as Fides datasets (one per source)."""
    from dsar.discovery.fides import export_fides as run

    path = datamap or load_settings(state=False).datamap
    if path is None:
        fail("give the data map with --datamap, or set DSAR_DATAMAP")
    try:
        text = run(load(path))
    except DataMapError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the commands to the `datamap` group."""
    app.command("discover")(discover)
    app.command("coverage")(coverage)
    app.command("import-fides")(import_fides)
    app.command("export-fides")(export_fides)
