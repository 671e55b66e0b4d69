"""Buy with Prime privacy operations: personal-data retrieval tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import invalid_input, validation
from dsar.kit.ids import is_uuid
from dsar.tasks.service import TaskView
from dsar.tasks.states import COMPLETED, RETRIEVAL
from dsar.tasks.validation import client_token_issues, email_issues

SCOPE = "privacy:manage"


@strawberry.enum(description="Type of data subject submitting the privacy request.")
class DataSubjectType(Enum):
    SHOPPER = "SHOPPER"


@strawberry.input(description="Data subject of a privacy task: its type and e-mail address.")
class DataSubjectInput:
    type: DataSubjectType
    email: str | None = None


@strawberry.input(name="ClientToken", description="Idempotency token for mutation operations.")
class ClientTokenInput:
    token: str | None = None


@strawberry.input(description="Specifies the input fields to start a personal data retrieval task.")
class StartPersonalDataRetrievalTaskInput:
    data_subject: DataSubjectInput
    client_token: ClientTokenInput | None = None


@strawberry.type
class StartPersonalDataRetrievalTaskResponse:
    task_id: strawberry.ID


@strawberry.type
class DataSubject:
    type: str
    email: str | None


@strawberry.type
class PersonalDataTaskError:
    code: str | None
    message: str


@strawberry.type(description="A personal data retrieval task.")
class PersonalDataRetrievalTask:
    task_id: strawberry.ID
    status: str
    submission_date: str
    last_updated_date: str
    data_subject: DataSubject
    errors: list[PersonalDataTaskError | None] | None
    _result_key: strawberry.Private[str | None]

    @strawberry.field(description="Link to the result ZIP; only when COMPLETED; signed afresh at every query.")
    def data_retrieval_link(self, info: Info[Context, None]) -> str | None:
        if self.status != COMPLETED or not self._result_key:
            return None
        c = info.context.container
        return c.storage.signed_url(self._result_key, c.settings.link_ttl_seconds, filename="data_retrieval.zip")


def task_errors(errors: Iterable[Mapping[str, str]]) -> list[PersonalDataTaskError | None]:
    """A task's (or batch's) errors as every task type of the schema shows them."""
    return [PersonalDataTaskError(code=e.get("code"), message=e.get("message", "")) for e in errors]


def _retrieval(view: TaskView) -> PersonalDataRetrievalTask:
    return PersonalDataRetrievalTask(
        task_id=strawberry.ID(view.id),
        status=view.status,
        submission_date=view.submitted_at,
        last_updated_date=view.updated_at,
        data_subject=DataSubject(type=view.subject_type, email=view.subject_email),
        errors=task_errors(view.errors),
        _result_key=view.result_key,
    )


def subject_email(field: str, kind: str, subject: DataSubjectInput) -> str:
    """The subject's e-mail, or the documented validation errors."""
    if subject.email is None or not subject.email.strip():
        raise validation(
            f"The dataSubject must have an email specified to initiate a {kind}.",
            f"EmailNotProvidedFor{kind[0].upper()}{kind[1:]}",
        )
    email = subject.email.strip()
    issues = email_issues(email, f"/{field}/input/dataSubject/email")
    if issues:
        raise invalid_input(issues)
    return email


def client_token(field: str, token: ClientTokenInput | None) -> str | None:
    if token is None or token.token is None:
        return None
    issues = client_token_issues(token.token, f"/{field}/input/clientToken/token")
    if issues:
        raise invalid_input(issues)
    return token.token


def task_id_arg(field: str, task_id: str) -> str:
    if not is_uuid(task_id):
        raise invalid_input([f"/{field}/taskId must be a UUID"])
    return task_id


@strawberry.type
class PrivacyQuery:
    @strawberry.field(description="Returns a single personal data retrieval task.")
    async def personal_data_retrieval_task(
        self, info: Info[Context, None], task_id: str
    ) -> PersonalDataRetrievalTask | None:
        ctx = info.context
        ctx.require(SCOPE)
        tid = task_id_arg("personalDataRetrievalTask", task_id)
        view = await ctx.read(ctx.container.tasks.get, ctx.principal.tenant, tid, RETRIEVAL)
        return _retrieval(view)


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Starts a personal data retrieval task.")
    async def start_personal_data_retrieval_task(
        self, info: Info[Context, None], input: StartPersonalDataRetrievalTaskInput
    ) -> StartPersonalDataRetrievalTaskResponse | None:
        ctx = info.context
        ctx.require(SCOPE)
        field = "startPersonalDataRetrievalTask"
        email = subject_email(field, "personalDataRetrievalTask", input.data_subject)
        token = client_token(field, input.client_token)
        task_id = await ctx.call(ctx.container.tasks.start_retrieval, ctx.principal.tenant, email, token)
        return StartPersonalDataRetrievalTaskResponse(task_id=strawberry.ID(task_id))
