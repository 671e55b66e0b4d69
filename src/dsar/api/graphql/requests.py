"""Privacy requests as cases, for the back office: list, read, approve, deny, extend, assign, comment.

Names are fixed (issue 14) so scripts can rely on them; errors come in the Buy with Prime format like every
other operation. Scope `privacy:manage`; a request of another tenant answers like an unknown one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import invalid_input
from dsar.kit.ids import is_uuid
from dsar.requests.service import Filter, PrivacyRequests, RequestView

Action = Callable[..., RequestView]

SCOPE = "privacy:manage"


@strawberry.enum(description="Why a request is refused (docs/requests.md).")
class DenialBasis(Enum):  # the same names as dsar.requests.service.DENIAL_BASES (a test keeps them equal)
    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    NOT_MADE_BY_SUBJECT = "not_made_by_subject"
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"
    EXCESSIVE = "excessive"
    LEGAL_EXEMPTION = "legal_exemption"
    NO_DATA_HELD = "no_data_held"


@strawberry.type(description="A collection left out of an answer, and why.")
class WithheldCollection:
    collection: str
    basis: str
    law: str | None


@strawberry.type(description="One line of a request's timeline.")
class PrivacyRequestEvent:
    at: str
    actor: str
    kind: str
    data: str | None = strawberry.field(description="Details as a JSON object, or null.")


@strawberry.type(description="A privacy request (a case) with its legal deadline, decision and timeline.")
class PrivacyRequest:
    id: strawberry.ID
    type: str
    channel: str
    jurisdiction: str | None
    rule: str
    subject: str = strawberry.field(description="The subject's e-mail, masked.")
    status: str
    received_at: str
    due_date: str
    days_left: int
    overdue: bool
    extendable_until: str | None
    extended_on: str | None
    extension_reason: str | None
    confirm_by: str | None
    assignee: str | None
    decision: str | None
    decision_basis: str | None
    decision_law: str | None
    decided_by: str | None
    decided_at: str | None
    withheld: list[WithheldCollection]
    responded_at: str | None
    task_ids: list[strawberry.ID]
    timeline: list[PrivacyRequestEvent]


@strawberry.type
class PrivacyRequestConnection:
    items: list[PrivacyRequest]
    end_cursor: str | None
    has_next_page: bool


@strawberry.input(description="Filters of privacyRequests; all given filters apply.")
class PrivacyRequestFilter:
    status: str | None = None
    type: str | None = None
    channel: str | None = None
    jurisdiction: str | None = None
    assignee: str | None = None
    overdue: bool | None = None


@strawberry.input
class PrivacyRequestIdInput:
    request_id: str


@strawberry.input
class DenyPrivacyRequestInput:
    request_id: str
    basis: DenialBasis
    note: str | None = None
    law: str | None = strawberry.field(default=None, description="The law behind a LEGAL_EXEMPTION.")


@strawberry.input
class ExtendPrivacyRequestInput:
    request_id: str
    reason: str


@strawberry.input
class AssignPrivacyRequestInput:
    request_id: str
    assignee: str | None = None


@strawberry.input
class CommentPrivacyRequestInput:
    request_id: str
    text: str


def _iso(value: object) -> str | None:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]


def _view(v: RequestView) -> PrivacyRequest:
    return PrivacyRequest(
        id=strawberry.ID(v.id),
        type=v.type,
        channel=v.channel,
        jurisdiction=v.jurisdiction,
        rule=v.rule,
        subject=v.subject,
        status=v.status,
        received_at=v.received_at.isoformat(),
        due_date=v.due_on.isoformat(),
        days_left=v.days_left,
        overdue=v.overdue,
        extendable_until=_iso(v.extendable_until),
        extended_on=_iso(v.extended_on),
        extension_reason=v.extension_reason,
        confirm_by=_iso(v.confirm_by),
        assignee=v.assignee,
        decision=v.decision,
        decision_basis=v.decision_basis,
        decision_law=v.decision_law,
        decided_by=v.decided_by,
        decided_at=_iso(v.decided_at),
        withheld=[
            WithheldCollection(collection=w["collection"], basis=w["basis"], law=w.get("law")) for w in v.withheld
        ],
        responded_at=_iso(v.responded_at),
        task_ids=[strawberry.ID(t) for t in v.task_ids],
        timeline=[
            PrivacyRequestEvent(
                at=e.at.isoformat(),
                actor=e.actor,
                kind=e.kind,
                data=json.dumps(e.data, sort_keys=True) if e.data else None,
            )
            for e in v.timeline
        ],
    )


def _id(field: str, value: str) -> str:
    if not is_uuid(value):
        raise invalid_input([f"/{field}/requestId must be a UUID"])
    return value


def _actor(ctx: Context) -> str:
    return f"client:{ctx.principal.client_id}"


@strawberry.type
class RequestQuery:
    @strawberry.field(description="Privacy requests, newest first, filtered and paged by cursor.")
    async def privacy_requests(
        self,
        info: Info[Context, None],
        filter: PrivacyRequestFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> PrivacyRequestConnection:
        ctx = info.context
        ctx.require(SCOPE)
        svc = ctx.container.requests
        f = filter or PrivacyRequestFilter()
        flt = Filter(
            status=f.status,
            type=f.type,
            channel=f.channel,
            jurisdiction=f.jurisdiction.upper() if f.jurisdiction else None,
            assignee=f.assignee,
            overdue_on=svc.today() if f.overdue else None,
        )
        page = await ctx.call(svc.page, ctx.principal.tenant, flt, first=first, after=after)
        return PrivacyRequestConnection(
            items=[_view(v) for v in page.items], end_cursor=page.end_cursor, has_next_page=page.has_next_page
        )

    @strawberry.field(description="One privacy request with its tasks and timeline.")
    async def privacy_request(self, info: Info[Context, None], id: str) -> PrivacyRequest | None:
        ctx = info.context
        ctx.require(SCOPE)
        rid = _id("privacyRequest", id)
        return _view(await ctx.call(ctx.container.requests.get, ctx.principal.tenant, rid))


async def _change(
    info: Info[Context, None], field: str, request_id: str, action: Callable[[PrivacyRequests], Action], **kw: Any
) -> PrivacyRequest:
    """One mutation of a request: scope, id, the service call in a thread with the caller as actor, the view."""
    ctx = info.context
    ctx.require(SCOPE)
    rid = _id(f"{field}/input", request_id)
    call = action(ctx.container.requests)
    return _view(await ctx.call(call, ctx.principal.tenant, rid, actor=_actor(ctx), **kw))


@strawberry.type
class RequestMutation:
    @strawberry.mutation(description="Approves a received privacy request.")
    async def approve_privacy_request(self, info: Info[Context, None], input: PrivacyRequestIdInput) -> PrivacyRequest:
        return await _change(info, "approvePrivacyRequest", input.request_id, lambda r: r.approve)

    @strawberry.mutation(description="Denies a privacy request with a basis from the fixed list.")
    async def deny_privacy_request(self, info: Info[Context, None], input: DenyPrivacyRequestInput) -> PrivacyRequest:
        return await _change(
            info,
            "denyPrivacyRequest",
            input.request_id,
            lambda r: r.deny,
            basis=input.basis.value,
            note=input.note or "",
            law=input.law,
        )

    @strawberry.mutation(description="Extends a request's deadline once, before it passes, within its rule.")
    async def extend_privacy_request(
        self, info: Info[Context, None], input: ExtendPrivacyRequestInput
    ) -> PrivacyRequest:
        return await _change(info, "extendPrivacyRequest", input.request_id, lambda r: r.extend, reason=input.reason)

    @strawberry.mutation(description="Assigns a privacy request (null: nobody).")
    async def assign_privacy_request(
        self, info: Info[Context, None], input: AssignPrivacyRequestInput
    ) -> PrivacyRequest:
        return await _change(
            info, "assignPrivacyRequest", input.request_id, lambda r: r.assign, assignee=input.assignee
        )

    @strawberry.mutation(description="Adds a comment to a privacy request's timeline.")
    async def comment_privacy_request(
        self, info: Info[Context, None], input: CommentPrivacyRequestInput
    ) -> PrivacyRequest:
        return await _change(info, "commentPrivacyRequest", input.request_id, lambda r: r.comment, text=input.text)
