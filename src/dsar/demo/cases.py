"""The console's demo history: a few hundred privacy requests in every state, as plain specs (deterministic).

The specs say what happened and when; `dsar demo` plays them through the requests service on a clock set to
each moment (the demo package stays below the features, so it only describes them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from faker import Faker

TYPES = (("access", 40), ("deletion", 25), ("portability", 10), ("opt_out", 10), ("objection", 5), ("categories", 5))
CHANNELS = ("console", "bwp", "odr", "adp", "bulk", "api")
PLACES = ("US-CA", "US-CA", "US-CA", "EU", "FR", "DE", "GB", "US-VA", "US-CO", "BR", None)
BASES = ("identity_not_verified", "manifestly_unfounded", "excessive", "no_data_held", "legal_exemption")
TEAM = (
    ("admin@demo-shop.example", "admin"),
    ("ana.approver@demo-shop.example", "approver"),
    ("rui.respondent@demo-shop.example", "respondent"),
    ("vic.viewer@demo-shop.example", "viewer"),
)


@dataclass(frozen=True)
class Step:
    after: timedelta  # since the request was received
    action: str  # approve, deny, extend, assign, comment, complete, cancel
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseSpec:
    age: timedelta  # how long ago it was received
    type: str
    channel: str
    jurisdiction: str | None
    email: str
    steps: list[Step]


def demo_cases(count: int = 300, seed: int = 15) -> list[CaseSpec]:
    """`count` requests over the last 16 weeks: answered, denied, canceled, in progress, awaiting a decision,
    some overdue, some extended, assigned and commented."""
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    names, weights = zip(*TYPES, strict=True)
    cases = []
    for i in range(count):
        age = timedelta(days=rng.uniform(0, 112), hours=rng.uniform(0, 23))
        days = age.days
        email = f"{fake.user_name()}{i}@{rng.choice(('example.com', 'example.org', 'mail.example'))}"
        steps: list[Step] = []
        fate = rng.random()
        if rng.random() < 0.35:
            steps.append(Step(timedelta(hours=2), "assign", {"assignee": rng.choice(TEAM[1:3])[0]}))
        if rng.random() < 0.25:
            steps.append(Step(timedelta(hours=5), "comment", {"text": "Called the requester to confirm the scope."}))
        if days < 4 or fate < 0.12:
            pass  # awaiting a decision (the older ones are overdue)
        elif fate < 0.22:
            basis = rng.choice(BASES)
            law = "GDPR Art. 23(1)(e)" if basis == "legal_exemption" else ""
            steps.append(Step(timedelta(days=rng.uniform(1, 3)), "deny", {"basis": basis, "law": law}))
        elif fate < 0.26:
            steps.append(Step(timedelta(days=1), "cancel", {"reason": "withdrawn by the requester"}))
        else:
            steps.append(Step(timedelta(days=rng.uniform(0.2, 2)), "approve"))
            if rng.random() < 0.12:
                steps.append(
                    Step(timedelta(days=10), "extend", {"reason": "Many sources to search; we need more time."})
                )
            answer = rng.uniform(3, 40)
            if answer < days - 1:
                steps.append(Step(timedelta(days=answer), "complete", {"note": "answered"}))
        cases.append(
            CaseSpec(
                age=age,
                type=rng.choices(names, weights)[0],
                channel=rng.choice(CHANNELS),
                jurisdiction=rng.choice(PLACES),
                email=email,
                steps=sorted(steps, key=lambda s: s.after),
            )
        )
    return cases
