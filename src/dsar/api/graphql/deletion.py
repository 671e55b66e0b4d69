"""Buy with Prime privacy operations: personal-data deletion tasks (holding period, cancel)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import invalid_input
from dsar.api.graphql.privacy import (
    SCOPE,
    ClientTokenInput,
    DataSubject,
    DataSubjectInput,
    PersonalDataTaskError,
    client_token,
    subject_email,
    task_errors,
    task_id_arg,
)
from dsar.tasks.service import TaskView
from dsar.tasks.states import DELETION
from dsar.tasks.validation import int_range_issues

DEFAULT_HOLDING_DAYS = 10
MAX_HOLDING_DAYS = 180
MAX_REASON = 1000


@strawberry.input(description="Specifies the input fields to start a personal data deletion task.")
class StartPersonalDataDeletionTaskInput:
    data_subject: DataSubjectInput
    holding_period: int | None = strawberry.field(
        default=None, description="Days to wait before deleting (0 to 180, default 10); cancellable meanwhile."
    )
    reason: str | None = strawberry.field(default=None, description="Why the deletion was requested (for audit).")
    client_token: ClientTokenInput | None = None


@strawberry.input(description="Specifies the personal data deletion task to cancel.")
class CancelPersonalDataDeletionTaskInput:
    task_id: str


@strawberry.type
class StartPersonalDataDeletionTaskResponse:
    task_id: strawberry.ID


@strawberry.type
class CancelPersonalDataDeletionTaskResponse:
    task_id: strawberry.ID


@strawberry.type(description="A personal data deletion task.")
class PersonalDataDeletionTask:
    task_id: strawberry.ID
    status: str
    submission_date: str
    last_updated_date: str
    data_subject: DataSubject
    holding_period: int | None
    errors: list[PersonalDataTaskError | None] | None


def _deletion(view: TaskView) -> PersonalDataDeletionTask:
    return PersonalDataDeletionTask(
        task_id=strawberry.ID(view.id),
        status=view.status,
        submission_date=view.submitted_at,
        last_updated_date=view.updated_at,
        data_subject=DataSubject(type=view.subject_type, email=view.subject_email),
        holding_period=view.holding_period_days,
        errors=task_errors(view.errors),
    )


@strawberry.type
class DeletionQuery:
    @strawberry.field(description="Returns a single personal data deletion task.")
    async def personal_data_deletion_task(
        self, info: Info[Context, None], task_id: str
    ) -> PersonalDataDeletionTask | None:
        ctx = info.context
        ctx.require(SCOPE)
        tid = task_id_arg("personalDataDeletionTask", task_id)
        view = await ctx.read(ctx.container.tasks.get, ctx.principal.tenant, tid, DELETION)
        return _deletion(view)


@strawberry.type
class DeletionMutation:
    @strawberry.mutation(description="Starts a personal data deletion task.")
    async def start_personal_data_deletion_task(
        self, info: Info[Context, None], input: StartPersonalDataDeletionTaskInput
    ) -> StartPersonalDataDeletionTaskResponse | None:
        ctx = info.context
        ctx.require(SCOPE)
        field = "startPersonalDataDeletionTask"
        email = subject_email(field, "personalDataDeletionTask", input.data_subject)
        holding = DEFAULT_HOLDING_DAYS if input.holding_period is None else input.holding_period
        issues = int_range_issues(holding, f"/{field}/input/holdingPeriod", 0, MAX_HOLDING_DAYS)
        if input.reason is not None and len(input.reason) > MAX_REASON:
            issues.append(f"/{field}/input/reason may only be {MAX_REASON} characters long")
        if issues:
            raise invalid_input(issues)
        token = client_token(field, input.client_token)
        task_id = await ctx.call(
            ctx.container.tasks.start_deletion, ctx.principal.tenant, email, holding, input.reason, token
        )
        return StartPersonalDataDeletionTaskResponse(task_id=strawberry.ID(task_id))

    @strawberry.mutation(
        description="Cancels a personal data deletion task during its holding period. Takes `taskId`, or "
        "`input: {taskId}` as in the guide."
    )
    async def cancel_personal_data_deletion_task(
        self,
        info: Info[Context, None],
        task_id: str | None = None,
        input: CancelPersonalDataDeletionTaskInput | None = None,
    ) -> CancelPersonalDataDeletionTaskResponse | None:
        ctx = info.context
        ctx.require(SCOPE)
        field = "cancelPersonalDataDeletionTask"
        given = task_id if task_id is not None else (input.task_id if input is not None else None)
        if given is None:
            raise invalid_input([f"/{field}/taskId is required"])
        tid = task_id_arg(field, given)
        await ctx.call(ctx.container.tasks.cancel_deletion, ctx.principal.tenant, tid)
        return CancelPersonalDataDeletionTaskResponse(task_id=strawberry.ID(tid))
