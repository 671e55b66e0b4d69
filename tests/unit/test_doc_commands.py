"""Every `dsar ...` command the README and docs/ show exists, with the options it is shown with.

Commands come from the documents' code (fenced blocks and inline code spans; tests/markdown.py). Synopses may
write optional parts in brackets and values as placeholders (`[--json]`, `--name N`): the brackets are dropped
and each option name must be one of the command's. An example in a code block with no placeholder is parsed in
full, as the CLI would parse it (without running it): required options present, values of the right type.
Each command path answers `--help`."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dsar.cli.app import app
from tests.markdown import Command, commands

SHOWN = commands("dsar")
PLACEHOLDER = re.compile(r"^(?:[A-Z][A-Z_]*|N|E|T|\.\.\.)$")


@functools.cache
def _root() -> Any:
    return typer.main.get_command(app)  # a group of Typer's own click


def resolve(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """(the subcommand path, its command, the remaining arguments)."""
    cmd: Any = _root()
    path: list[str] = []
    rest = list(argv)
    while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
        sub = cmd.commands.get(rest[0])
        assert sub is not None, f"`dsar {' '.join(path + rest[:1])}` is not a command"
        cmd, path = sub, [*path, rest.pop(0)]
    assert not hasattr(cmd, "commands"), f"`dsar {' '.join(path)}` needs a subcommand"
    return path, cmd, rest


def _argv(line: str) -> list[str]:
    text = line.replace("[", " ").replace("]", " ")
    try:
        return shlex.split(text)[1:]
    except ValueError:  # an unbalanced quote in a synopsis
        return text.split()[1:]


def test_the_documents_show_commands() -> None:
    assert len(SHOWN) > 30, SHOWN  # the extraction works
    [upgrade] = [c for c in SHOWN if c.where.startswith("README.md:") and c.line == "dsar db upgrade"]
    assert upgrade.fenced
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text().splitlines()
    assert readme[int(upgrade.where.split(":")[1]) - 1].startswith("dsar db upgrade")  # the number is the line's
    assert any(not c.fenced and c.line == "dsar datamap check" for c in SHOWN)


def test_a_wrong_command_or_option_is_caught() -> None:
    with pytest.raises(AssertionError, match="is not a command"):
        resolve(_argv("dsar tasks nope"))
    with pytest.raises(AssertionError, match="needs a subcommand"):
        resolve(_argv("dsar tasks"))
    with pytest.raises(AssertionError, match="--nope is not an option"):
        check(Command("x.md:1", "dsar db upgrade --nope", fenced=False))
    with pytest.raises(Exception, match="Missing"):
        check(Command("x.md:1", "dsar clients create --scope privacy:manage", fenced=True))


@pytest.mark.parametrize("shown", SHOWN, ids=[f"{c.where} {c.line[:40]}" for c in SHOWN])
def test_a_shown_command_parses(shown: Command) -> None:
    check(shown)


def check(shown: Command) -> None:
    where, line = shown.where, shown.line
    argv = _argv(line)
    path, cmd, rest = resolve(argv)
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    for token in rest:
        if token.startswith("-"):
            assert token.split("=", 1)[0] in known, f"{where}: `{line}`: {token} is not an option of dsar {path}"
    if shown.fenced and "[" not in line and not any(PLACEHOLDER.match(t) for t in rest):
        ctx = cmd.make_context(" ".join(["dsar", *path]), list(rest))  # parses, does not run
        ctx.close()


def test_every_shown_command_path_answers_help() -> None:
    runner = CliRunner()
    paths = sorted({tuple(resolve(_argv(c.line))[0]) for c in SHOWN})
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output, (path, result.output)
