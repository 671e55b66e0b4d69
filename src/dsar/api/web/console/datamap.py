"""The data map as a picture (sources as columns, collections as boxes, references as arrows, drawn as SVG on
the server) and, on demand, `dsar datamap check`'s report and `dsar datamap coverage`'s (a POST: it samples
every table of every source, so it runs only when asked)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from dsar.api.web.console.guard import Guard
from dsar.datamap.model import DataMap
from dsar.discovery.coverage import coverage as run_coverage
from dsar.engine.check import check as run_check
from dsar.errors import DsarError

BOX_W, BOX_H, GAP_X, GAP_Y, TOP, LEFT = 220, 46, 110, 22, 40, 70


@dataclass(frozen=True)
class Box:
    key: str
    name: str
    x: int
    y: int
    identity: bool
    erasure: str


@dataclass(frozen=True)
class Arrow:
    path: str  # SVG path data: a straight line across sources, a curve on the left within one
    label: str


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    sources: list[tuple[str, int]]  # name, x
    boxes: list[Box]
    arrows: list[Arrow]


def picture(dm: DataMap) -> Picture:
    names = sorted(dm.sources)
    column = {name: i for i, name in enumerate(names)}
    rows: dict[str, int] = {}
    boxes: dict[str, Box] = {}
    for key in sorted(dm.collections):
        source, _, name = key.partition(".")
        i = column.get(source, 0)
        row = rows.get(source, 0)
        rows[source] = row + 1
        coll = dm.collections[key]
        boxes[key] = Box(
            key,
            name,
            LEFT + i * (BOX_W + GAP_X),
            TOP + row * (BOX_H + GAP_Y),
            bool(coll.identities),
            coll.erasure_action(),
        )
    arrows = []
    for key, coll in dm.collections.items():
        for ref in coll.references:
            parent = ".".join(ref.to.split(".")[:2])
            if parent in boxes and key in boxes:
                a, b = boxes[key], boxes[parent]
                y1, y2 = a.y + BOX_H // 2, b.y + BOX_H // 2
                if a.x == b.x:
                    bend = a.x - 30 - abs(y1 - y2) // 12
                    path = f"M{a.x},{y1} C{bend},{y1} {bend},{y2} {b.x},{y2}"
                else:
                    x1, x2 = (a.x, b.x + BOX_W) if b.x < a.x else (a.x + BOX_W, b.x)
                    path = f"M{x1},{y1} L{x2},{y2}"
                arrows.append(Arrow(path, f"{ref.column} → {ref.to}"))
    width = LEFT + 10 + len(names) * (BOX_W + GAP_X) - GAP_X
    height = TOP + max(rows.values(), default=0) * (BOX_H + GAP_Y) + 10
    return Picture(
        width, height, [(n, LEFT + column[n] * (BOX_W + GAP_X)) for n in names], list(boxes.values()), arrows
    )


def add_datamap_routes(router: APIRouter, guard: Guard) -> None:
    c = guard.container

    @router.get("/datamap")
    async def datamap(request: Request, check: str = "") -> Response:
        who = await guard.operator(request, "datamap.read")
        try:
            dm = await run_in_threadpool(lambda: c.datamap)
        except DsarError as exc:
            return guard.page(
                request, who, "console/datamap.html", {"error": exc.message, "pic": None, "report": None}, nav="datamap"
            )
        report = await run_in_threadpool(run_check, dm, c.sources) if check else None
        values = {"error": None, "pic": picture(dm), "dm": dm, "report": report, "box": (BOX_W, BOX_H)}
        return guard.page(request, who, "console/datamap.html", values, nav="datamap")

    async def coverage_page(request: Request, run: bool) -> Response:
        if run:
            who, _form = await guard.action(request, "datamap.coverage")  # CSRF: it reads every source
        else:
            who = await guard.operator(request, "datamap.coverage")
        values: dict[str, object] = {"error": None, "report": None}
        try:
            dm = await run_in_threadpool(lambda: c.datamap)
            if run:
                values["report"] = await run_in_threadpool(run_coverage, dm)
        except DsarError as exc:  # no data map, or a source that cannot be read
            values["error"] = exc.message
        except RuntimeError as exc:  # a source's driver failed (as the CLI reports it)
            values["error"] = str(exc)
        status = 200 if values["error"] is None else 503
        return guard.page(request, who, "console/coverage.html", values, nav="datamap", status=status)

    @router.get("/datamap/coverage")
    async def coverage(request: Request) -> Response:
        return await coverage_page(request, run=False)

    @router.post("/datamap/coverage")
    async def run_coverage_now(request: Request) -> Response:
        return await coverage_page(request, run=True)
