"""Roles and what each may do; the console checks `allowed` on the server before every action."""

from __future__ import annotations

ADMIN, APPROVER, RESPONDENT, VIEWER = "admin", "approver", "respondent", "viewer"
ROLES = (ADMIN, APPROVER, RESPONDENT, VIEWER)

_ALL = frozenset(ROLES)
_DECIDERS = frozenset({ADMIN, APPROVER})
_WORKERS = frozenset({ADMIN, APPROVER, RESPONDENT})

PERMISSIONS: dict[str, frozenset[str]] = {
    "requests.read": _ALL,
    "requests.reveal": _WORKERS,  # a respondent: only on requests assigned to them
    "requests.comment": _WORKERS,  # a respondent: only on requests assigned to them
    "requests.download": _WORKERS,
    "requests.decide": _DECIDERS,  # approve, deny, extend
    "requests.complete": _WORKERS,  # answer by hand (work done outside dsar); a respondent: only when assigned
    "requests.assign": _DECIDERS,
    "requests.export": _DECIDERS,
    "dashboard.read": _ALL,
    "datamap.read": _ALL,
    "datamap.coverage": frozenset({ADMIN, APPROVER, VIEWER}),  # oversight; it samples every table of every source
    "operators.manage": frozenset({ADMIN}),
    "integrations.manage": frozenset({ADMIN}),
    "audit.read": frozenset({ADMIN}),
}
# Permissions a respondent holds only for requests assigned to them.
ASSIGNED_ONLY = {
    RESPONDENT: frozenset({"requests.reveal", "requests.comment", "requests.download", "requests.complete"})
}


def allowed(role: str, permission: str, *, assigned: bool = True) -> bool:
    """`assigned`: the request in question is assigned to the operator (for the respondent's limits)."""
    if role not in PERMISSIONS.get(permission, frozenset()):
        return False
    return assigned or permission not in ASSIGNED_ONLY.get(role, frozenset())
