"""What each REST operation really answers, added to the generated OpenAPI document (a security review: the
served `/openapi.json` named only 200s, and `DELETE /odr/requests/{id}` as JSON though it answers text/plain).

The routes read their requests themselves (each face keeps its own error format), so FastAPI sees neither the
bodies nor the errors; this table says them, and the fuzzing test (tests/api/test_fuzz.py) checks every answer
against it. FastAPI's generic 422 is dropped where a route has no parameter that could fail its validation.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

_REF = "#/components/schemas/"
SCHEMAS: dict[str, dict[str, Any]] = {
    "OdrError": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "OAuthError": {
        "type": "object",
        "description": "RFC 6749 §5.2",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
    "PortabilityError": {
        "type": "object",
        "required": ["category", "type", "message"],
        "properties": {"category": {"type": "string"}, "type": {"type": "string"}, "message": {"type": "string"}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}


def _json(schema: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }
    if headers:
        out["headers"] = headers
    return out


def _content(media_type: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema or {"type": "string"}}}}


def _odr(status: int) -> dict[str, Any]:
    return _json("OdrError", {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 413: "Body too large"}[status])


def _adp(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json("PortabilityError", description, headers)


def _form(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    props = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": props, "required": required}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _table(odr: str, adp: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) -> {"responses": {status: response}, "replace": statuses whose content is replaced,
    "requestBody": ...}. None of these routes has a parameter FastAPI could refuse: their 422 goes."""
    adp_common = {
        "401": _adp("The bearer token is missing, invalid, expired or revoked"),
        "403": _adp("The app is not registered, or the customer did not authorize the scope"),
        "404": _adp("SCOPE_NOT_FOUND (or QUERY_NOT_FOUND): unknown scope or query"),
        "409": _adp("A conflicting query is in progress or was canceled"),
        "429": _adp("THROTTLED or QUOTA_EXCEEDED", _RETRY_AFTER),
    }
    return {
        ("post", "/token"): {
            "requestBody": _form(
                {
                    "grant_type": "client_credentials",
                    "client_id": "or HTTP Basic",
                    "client_secret": "or HTTP Basic",
                    "scope": "space-separated, at most the client's",
                },
                ["grant_type"],
            ),
            "responses": {
                "400": _json("OAuthError", "invalid_request, unsupported_grant_type or invalid_scope"),
                "401": _json("OAuthError", "invalid_client"),
                "413": _json("OAuthError", "The body is over 1 MiB"),
                "429": _json("OAuthError", "slow_down: too many failed attempts from this address", _RETRY_AFTER),
            },
        },
        ("get", "/readyz"): {
            "responses": {"200": _json("Readiness", "Ready"), "503": _json("Readiness", "Not ready")},
            "replace": {"200"},
        },
        ("get", "/metrics"): {
            "responses": {
                "200": _content(CONTENT_TYPE_LATEST, "Prometheus text format"),
                "401": _content("text/plain", "DSAR_METRICS_TOKEN is set and the request does not carry it"),
            },
            "replace": {"200"},
        },
        ("get", f"{odr}/data"): {"responses": {"400": _odr(400)}},
        ("get", f"{odr}/data/me"): {"responses": {"401": _odr(401)}},
        ("get", f"{odr}/requests"): {"responses": {"401": _odr(401)}},
        ("post", f"{odr}/requests"): {
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"type": "array", "items": {"type": "string"}}}},
            },
            "responses": {"400": _odr(400), "401": _odr(401), "413": _odr(413)},
        },
        ("get", f"{odr}/requests/{{requestId}}"): {"responses": {"401": _odr(401), "404": _odr(404)}},
        ("delete", f"{odr}/requests/{{requestId}}"): {
            "responses": {
                "200": _content("text/plain", "OK", {"type": "string", "enum": ["OK"]}),
                "400": _odr(400),
                "401": _odr(401),
                "404": _odr(404),
            },
            "replace": {"200"},
        },
        ("get", f"{odr}/requests/{{requestId}}/complete"): {
            "responses": {
                "200": _content("text/plain", "1 when completed, else 0", {"type": "string", "enum": ["0", "1"]}),
                "401": _odr(401),
                "404": _odr(404),
            },
            "replace": {"200"},
        },
        ("get", f"{odr}/requests/{{requestId}}/download"): {
            "responses": {
                "200": _content("application/zip", "The archive", {"type": "string", "format": "binary"}),
                "400": _odr(400),
                "401": _odr(401),
                "404": _odr(404),
            },
            "replace": {"200"},
        },
        ("post", f"{odr}/oauth/token"): {
            "requestBody": _form(
                {
                    "grant_type": "authorization_code or refresh_token",
                    "code": "",
                    "redirect_uri": "",
                    "client_id": "",
                    "code_verifier": "PKCE",
                    "refresh_token": "",
                },
                ["grant_type"],
            ),
            "responses": {
                "400": _json("OAuthError", "invalid_request, invalid_grant or unsupported_grant_type"),
                "401": _json("OAuthError", "invalid_client"),
                "413": _json("OAuthError", "The body is over 1 MiB"),
            },
        },
        ("post", f"{adp}/{{scopeId}}/data-queries"): {
            "responses": {**adp_common, "400": _adp("A bad request"), "413": _adp("The body is over 1 MiB")},
        },
        ("get", f"{adp}/{{scopeId}}/data-queries/{{queryId}}/records"): {
            "responses": {**adp_common, "400": _adp("INVALID_MAX_RESULTS or INVALID_NEXT_PAGE_TOKEN")},
        },
    }


def describe(doc: dict[str, Any], *, odr_prefix: str, portability_prefix: str) -> dict[str, Any]:
    """`doc` with the real statuses, content types and request bodies of each operation (in place; idempotent)."""
    doc.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    for (method, path), spec in _table(odr_prefix, portability_prefix).items():
        op = doc.get("paths", {}).get(path, {}).get(method)
        if op is None:
            continue
        responses = op.setdefault("responses", {})
        responses.pop("422", None)
        for status, response in spec["responses"].items():
            if status in spec.get("replace", set()) or status not in responses:
                responses[status] = response
        if "requestBody" in spec:
            op["requestBody"] = spec["requestBody"]
    return doc
