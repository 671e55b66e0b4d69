"""`dsar archive verify FILE [--jwks URL|FILE]`: is this data_retrieval.zip genuine and whole?

Exit 0 with a one-line summary, or 1 with the first failure (see dsar.signing.verify for the checks).
Without --jwks, the keys are those of this installation's settings (its keys directory or configured key):
what an operator uses; a recipient passes the company's published JWKS URL.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from dsar.bootstrap import archive_keys
from dsar.cli.common import load_settings
from dsar.errors import DsarError
from dsar.kit.clock import SystemClock
from dsar.kit.jws import PublicKey
from dsar.signing.verify import load_jwks, verify_archive

app = typer.Typer(help="Retrieval archives (data_retrieval.zip).", no_args_is_help=True)


@app.command("verify")
def verify(
    file: Path = typer.Argument(..., help="the archive, e.g. data_retrieval.zip"),
    jwks: str | None = typer.Option(
        None, "--jwks", help="the signer's public keys: a JWKS URL (https://HOST/.well-known/jwks.json) or file"
    ),
) -> None:
    """Check the signature, every checksum, that nothing is missing or extra, and every data file's schema."""
    try:
        keys = load_jwks(jwks) if jwks else _local_keys()
        if not file.is_file():
            _fail(file, "no such file")
        result = verify_archive(file, keys)
    except DsarError as exc:
        _fail(file, exc.message)
    signed = result.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    typer.echo(
        f"OK {file.name}: format {result.format_version}, signed by key {result.kid} at {signed}; "
        f"{result.members} members, {result.records:,} records; every checksum and schema matches."
    )


def _local_keys() -> list[PublicKey]:
    settings = load_settings(state=False)  # the deployment's, or the demo's state where `dsar demo` ran
    store = replace(archive_keys(settings), generate=False)  # verifying never makes a key
    keys = store.published(SystemClock().now())
    if not keys:
        raise DsarError(f"no signing keys in {store.keys_dir}: pass the signer's keys with --jwks URL|FILE")
    return keys


def _fail(file: Path, message: str) -> None:
    typer.echo(f"FAILED {file.name}: {message}", err=True)
    raise typer.Exit(1)
