"""Personal-data rectification tasks (GDPR Art. 16), in the Buy with Prime style of the deletion tasks: start one
with new values for fields the data map marks `rectifiable`, read it back by id."""

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
from dsar.engine.rectify import MAX_FIELDS
from dsar.tasks.service import TaskView
from dsar.tasks.states import RECTIFICATION


@strawberry.input(description="A new value for a field the data map marks rectifiable.")
class RectificationValueInput:
    field: str = strawberry.field(description="The field as <source>.<collection>.<column>.")
    value: str | None = strawberry.field(description="The new value as text (ISO 8601 for dates); null clears it.")


@strawberry.input(description="Specifies the input fields to start a personal data rectification task.")
class StartPersonalDataRectificationTaskInput:
    data_subject: DataSubjectInput
    values: list[RectificationValueInput]
    jurisdiction: str | None = strawberry.field(
        default=None, description="Where the subject is (FR, US-CA ...): the legal deadline; default from settings."
    )
    client_token: ClientTokenInput | None = None


@strawberry.type
class StartPersonalDataRectificationTaskResponse:
    task_id: strawberry.ID


@strawberry.type(description="A personal data rectification task.")
class PersonalDataRectificationTask:
    task_id: strawberry.ID
    status: str
    submission_date: str
    last_updated_date: str
    data_subject: DataSubject
    errors: list[PersonalDataTaskError | None] | None


def _task(view: TaskView) -> PersonalDataRectificationTask:
    return PersonalDataRectificationTask(
        task_id=strawberry.ID(view.id),
        status=view.status,
        submission_date=view.submitted_at,
        last_updated_date=view.updated_at,
        data_subject=DataSubject(type=view.subject_type, email=view.subject_email),
        errors=task_errors(view.errors),
    )


@strawberry.type
class RectificationQuery:
    @strawberry.field(description="Returns a single personal data rectification task.")
    async def personal_data_rectification_task(
        self, info: Info[Context, None], task_id: str
    ) -> PersonalDataRectificationTask | None:
        ctx = info.context
        ctx.require(SCOPE)
        tid = task_id_arg("personalDataRectificationTask", task_id)
        return _task(await ctx.read(ctx.container.tasks.get, ctx.principal.tenant, tid, RECTIFICATION))


@strawberry.type
class RectificationMutation:
    @strawberry.mutation(description="Starts a personal data rectification task (GDPR Art. 16).")
    async def start_personal_data_rectification_task(
        self, info: Info[Context, None], input: StartPersonalDataRectificationTaskInput
    ) -> StartPersonalDataRectificationTaskResponse | None:
        ctx = info.context
        ctx.require(SCOPE)
        field = "startPersonalDataRectificationTask"
        email = subject_email(field, "personalDataRectificationTask", input.data_subject)
        names = [v.field for v in input.values]
        issues = []
        if not names:
            issues.append(f"/{field}/input/values must name at least one field")
        if len(names) > MAX_FIELDS:
            issues.append(f"/{field}/input/values may hold at most {MAX_FIELDS} fields")
        if len(set(names)) != len(names):
            issues.append(f"/{field}/input/values names a field twice")
        if issues:
            raise invalid_input(issues)
        token = client_token(field, input.client_token)
        task_id = await ctx.call(
            ctx.container.rectifications.start,
            ctx.principal.tenant,
            email,
            {v.field: v.value for v in input.values},
            token,
            jurisdiction=input.jurisdiction,
            where=f"/{field}/input/values/",
        )
        return StartPersonalDataRectificationTaskResponse(task_id=strawberry.ID(task_id))
