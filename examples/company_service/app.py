"""A reference receiver of dsar's company-service protocol (docs/company-services.md), in FastAPI.

It answers for its own in-memory collections: it verifies dsar's Standard Webhooks signature, answers each
idempotency key once (a retry gets the first answer again), signs what it sends, and in `answer="async"` mode
answers `202` and posts the result to the callback URL afterwards. Run: `uvicorn examples.company_service.app:app`
with SERVICE_SECRET set; dsar's source URL is then `service+http://dsar:<secret>@127.0.0.1:8000/dsar`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

Collections = dict[str, dict[str, Any]]  # name -> {"key": [...], "lookups": [[...]], "schema": {...}, "rows": [...]}


def _matches(row: dict[str, Any], match: dict[str, Any]) -> bool:
    value, how, values = row.get(match["field"]), match["how"], match["values"]
    if value is None:
        return False
    if how == "lower_trim":
        return isinstance(value, str) and value.strip(" ").lower() == values[0]
    return value == values[0] if how == "equal" else value in values


def _when(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def create_app(secret: str, collections: Collections, *, answer: str = "sync", delay: float = 0.0) -> FastAPI:
    app, hook, done = FastAPI(), Webhook(secret), {}  # done: idempotency key -> (status, body) sent

    def signed(key: str, body: bytes, status: int = 200) -> Response:
        sig = hook.sign(key, datetime.now(UTC), body)
        ts = str(int(datetime.now(UTC).timestamp()))
        headers = {"webhook-id": key, "webhook-timestamp": ts, "webhook-signature": sig}
        return Response(body, status, headers=headers, media_type="application/json")

    def access(req: dict[str, Any]) -> dict[str, Any]:
        coll = collections[req["collection"]]
        rows = [r for r in coll["rows"] if any(_matches(r, m) for m in req["match"])]
        if req.get("since"):
            field, bound = req["since"]["field"], _when(req["since"]["from"])
            rows = [r for r in rows if r.get(field) is not None and _when(r[field]) >= bound]
        return {
            "collection": req["collection"],
            "schema": coll["schema"],
            "rows": [{f: r.get(f) for f in req["fields"]} for r in rows],
        }

    def change(req: dict[str, Any]) -> dict[str, Any]:
        work = copy.deepcopy(collections)  # all or nothing: applied to a copy, kept only if every change fits
        before: list[list[dict[str, Any]]] = []  # rectify: each changed row's key and old values, in key order
        for ch in req["changes"]:
            coll = work[ch["collection"]]
            wanted = {tuple(k) for k in ch["keys"]}
            mine = [r for r in coll["rows"] if tuple(r[c] for c in ch["key"]) in wanted]
            if ch["values"] is None:
                gone = {id(r) for r in mine}
                coll["rows"] = [r for r in coll["rows"] if id(r) not in gone]
                continue
            for name, value in ch["values"].items():
                if value is None and name in coll["schema"].get("required", []):
                    return {"error": "not_null"}
            mine.sort(key=lambda r: [r[c] for c in ch["key"]])
            before.append(
                [{"key": [r[c] for c in ch["key"]], "values": {n: r.get(n) for n in ch["values"]}} for r in mine]
            )
            for r in mine:
                r.update(ch["values"])
        collections.clear()
        collections.update(work)
        return {"status": "done", "before": before} if req["action"] == "rectify" else {"status": "done"}

    def result(req: dict[str, Any]) -> dict[str, Any]:
        if req["action"] == "probe":
            return {"status": "ok"}
        if req["action"] == "describe":
            return {"collections": {n: {k: c[k] for k in ("key", "lookups", "schema")} for n, c in collections.items()}}
        if req.get("collection", "") not in collections and req["action"] == "access":
            return {"error": "unknown_collection"}
        return access(req) if req["action"] == "access" else change(req)

    async def post_back(url: str, key: str, body: bytes) -> None:
        """The answer, posted to dsar's callback; retried with backoff until dsar takes it (2xx) or 5 tries."""
        await asyncio.sleep(delay)
        resp = signed(key, body)
        headers = {k: v for k, v in resp.headers.items() if "webhook" in k}
        async with httpx.AsyncClient(timeout=30) as client:
            for attempt in range(5):
                try:
                    if (await client.post(url, content=body, headers=headers)).is_success:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.5 * 2**attempt)

    @app.post("/dsar")
    async def dsar(request: Request, background: BackgroundTasks) -> Response:
        raw = await request.body()
        try:
            req = hook.verify(raw, dict(request.headers))
        except WebhookVerificationError:
            return Response(json.dumps({"error": "bad_signature"}), 401, media_type="application/json")
        key = request.headers["webhook-id"]
        if key not in done:  # a retry is answered from the first time, and changes nothing again
            later = answer == "async" and req["action"] not in ("probe", "describe") and req.get("callback_url")
            done[key] = (202 if later else 200, json.dumps(result(req)).encode())
        status, body = done[key]
        if status == 202:  # posted (again) once the answer is sent
            background.add_task(post_back, req["callback_url"], key, body)
            return signed(key, b'{"status": "accepted"}', 202)
        return signed(key, body)

    return app


SAMPLE: Collections = {
    "members": {
        "key": ["id"],
        "lookups": [["email"]],
        "schema": {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "email": {"type": "string"}, "points": {"type": "integer"}},
            "required": ["id", "email"],
        },
        "rows": [{"id": 1, "email": "jane.doe@example.com", "points": 120}],
    }
}
app = create_app(os.environ.get("SERVICE_SECRET", "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="), SAMPLE)
