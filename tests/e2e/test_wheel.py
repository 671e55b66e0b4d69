"""Packaging: `python -m build` gives a wheel and an sdist holding every file dsar needs, and the wheel,
installed into a fresh venv, runs `dsar demo` and serves one retrieval, with no source tree in sight.

How (docs/testing.md, "Packaging"): the project's files are copied to a temporary folder and built there (the
checkout is not written to; the build backend comes from the package index, as `python -m build` does). The
fresh venv gets the wheel with `pip install --no-deps --no-index`, and its dependencies from the test's own
environment through a `.pth` line naming that environment's site-packages: a folder named in a `.pth` line
joins sys.path, but the `.pth` files inside it (the editable install's pointer to src/) are not read. The test
checks that `import dsar` in the venv resolves to the venv's copy, then runs the venv's `dsar demo` from a
temporary folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.demo_process import clean_env, running_demo
from tests.markdown import ROOT

START = 'mutation { startPersonalDataRetrievalTask(input: {dataSubject: {type: SHOPPER, email: "%s"}}) { taskId } }'
TASK = 'query { personalDataRetrievalTask(taskId: "%s") { status dataRetrievalLink } }'

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def package_files() -> set[str]:
    """Every file of the dsar package in the source tree, relative to src/ (compiled files aside)."""
    src = ROOT / "src"
    return {
        p.relative_to(src).as_posix()
        for p in (src / "dsar").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist of a copy of the project."""
    tree = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    out = tree / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(tree)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def test_the_wheel_and_sdist_hold_every_file_of_the_package(dist: Path) -> None:
    expected = package_files()
    for needed in (
        "dsar/py.typed",
        "dsar/demo/datamap.yaml",
        "dsar/api/graphql/schema.graphql",
        "dsar/migrations/env.py",
        "dsar/migrations/script.py.mako",
        "dsar/migrations/versions/0001_initial.py",
    ):
        assert needed in expected  # (the source tree is what the test thinks it is)
    [wheel] = dist.glob("dsar-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = {n for n in zf.namelist() if n.startswith("dsar/")}
    assert not expected - in_wheel, f"missing from the wheel: {sorted(expected - in_wheel)}"
    [sdist] = dist.glob("dsar-*.tar.gz")
    with tarfile.open(sdist) as tf:
        root = tf.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(f"{root}/src/") for n in tf.getnames() if n.startswith(f"{root}/src/dsar/")}
    assert not expected - in_sdist, f"missing from the sdist: {sorted(expected - in_sdist)}"


def test_the_installed_wheel_runs_the_demo_and_a_retrieval(dist: Path, tmp_path: Path) -> None:
    [wheel] = dist.glob("dsar-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "_dsar_test_dependencies.pth").write_text("\n".join(deps) + "\n")
    env = clean_env()
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, env=env, timeout=300
    )
    run = tmp_path / "run"
    run.mkdir()
    where = subprocess.check_output(
        [py, "-c", "import dsar, sys; print(dsar.__file__); print(*sys.path, sep='\\n')"], cwd=run, env=env, text=True
    ).splitlines()
    assert Path(where[0]).is_relative_to(site), where[0]  # the venv's copy, not src/
    assert str(ROOT / "src") not in where[1:], where

    with running_demo([str(venv / "bin" / "dsar")], run, env) as demo:
        creds = json.loads((run / "dsar-demo" / "demo-client.json").read_text())
        with httpx.Client(base_url=demo.base, timeout=30) as http:
            token = http.post("/token", data={"grant_type": "client_credentials", **creds}).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            started = http.post("/graphql", json={"query": START % "jane.doe@example.com"}).json()
            task_id = started["data"]["startPersonalDataRetrievalTask"]["taskId"]
            deadline = time.monotonic() + 120
            while True:
                task = http.post("/graphql", json={"query": TASK % task_id}).json()["data"]["personalDataRetrievalTask"]
                if task["status"] != "IN_PROGRESS" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert task["status"] == "COMPLETED", task
            archive = httpx.get(task["dataRetrievalLink"], timeout=60)
            assert archive.status_code == 200
            graphiql = http.get("/graphql", headers={"Accept": "text/html"})
            assert graphiql.status_code == 200 and "<html" in graphiql.text.lower()
    (tmp_path / "data_retrieval.zip").write_bytes(archive.content)
    with zipfile.ZipFile(tmp_path / "data_retrieval.zip") as zf:
        assert zf.testzip() is None
        assert "index.html" in zf.namelist() and "manifest.json" in zf.namelist(), zf.namelist()
    assert "dsar demo is ready." in demo.log.read_text()
