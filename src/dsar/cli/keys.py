"""`dsar keys rotate`: re-wrap every stored object's data key under the current key-encryption key."""

from __future__ import annotations

import typer

from dsar.cli.common import container

app = typer.Typer(help="Keys of encryption at rest (docs/encryption.md).", no_args_is_help=True)


@app.command("rotate")
def rotate() -> None:
    """Re-wrap the data key of every archive and upload under DSAR_ENCRYPTION__KEY_ID (or the KMS key), and seal
    the e-mails the state database still holds in clear.

    Only the small headers are rewritten, never the encrypted bodies; safe to run again after an interruption.
    Keep the old key configured until this has finished."""
    with container() as c:
        done, sealed = c.rotate_keys()
        typer.echo(
            f"{done.rewrapped} objects re-wrapped under key {done.key_id}, {done.current} already were, "
            f"{done.clear} stored in clear (written before encryption was on); "
            f"{sealed} personal fields of the state database sealed"
        )
