"""`dsar demo`'s console: the demo team (an admin whose password is printed) and a few hundred requests in every
state, played once through the services on a clock set to each moment of their history."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.demo.cases import TEAM, demo_cases
from dsar.errors import DsarError
from dsar.kit.clock import FrozenClock


def seed_console(settings: Settings, directory: Path) -> dict[str, str]:
    """The demo admin's e-mail and password; the team and the requests are made on the first run only."""
    marker = directory / "demo-console.json"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    now = datetime.now(UTC)
    clock = FrozenClock(now)
    c = Container(settings, clock=clock, with_workers=False)
    try:
        password = secrets.token_urlsafe(12)
        tenant = settings.console.tenant or settings.requests.company_tenant
        for email, role in TEAM:
            _view, link = c.operators.create(email, role, actor="demo")
            c.operators.set_password(
                link.split("token=", 1)[1], password if role == "admin" else secrets.token_urlsafe(16)
            )
        for spec in demo_cases():
            clock._now = now - spec.age  # the demo's own frozen clock, moved to each moment
            rid = c.requests.open(
                tenant=tenant,
                type=spec.type,
                channel=spec.channel,
                email=spec.email,
                actor=spec.channel,
                jurisdiction=spec.jurisdiction,
            )
            for step in spec.steps:
                clock._now = now - spec.age + step.after
                actor = "ana.approver@demo-shop.example"
                v = step.values
                try:
                    if step.action == "approve":
                        c.requests.approve(tenant, rid, actor=actor)
                    elif step.action == "deny":
                        c.requests.deny(tenant, rid, actor=actor, basis=v["basis"], law=v["law"] or None)
                    elif step.action == "extend":
                        c.requests.extend(tenant, rid, actor=actor, reason=v["reason"])
                    elif step.action == "assign":
                        c.requests.assign(tenant, rid, actor=actor, assignee=v["assignee"])
                    elif step.action == "comment":
                        c.requests.comment(tenant, rid, actor=actor, text=v["text"])
                    elif step.action == "complete":
                        c.requests.complete(tenant, rid, actor=actor, note=v["note"])
                    else:
                        c.requests.cancel(tenant, rid, actor=actor, reason=v["reason"])
                except DsarError:
                    continue  # e.g. a rule that allows no extension: the demo's history skips that step
    finally:
        c.close()
    admin = {"email": TEAM[0][0], "password": password}
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(admin, fh)
    return admin
