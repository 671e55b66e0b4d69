"""Retrieval tasks in bulk: one task per row of an uploaded CSV, and the batch that follows them.

Our operations (the documents have none for this), named in the style of the privacy interface:
`startPersonalDataRetrievalTasks(input: {fileId, clientToken})` and `personalDataRetrievalTaskBatch(batchId)`.
"""

from __future__ import annotations

import base64
import binascii

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import invalid_input
from dsar.api.graphql.privacy import (
    SCOPE,
    ClientTokenInput,
    PersonalDataRetrievalTask,
    PersonalDataTaskError,
    _retrieval,
    client_token,
    task_errors,
)
from dsar.kit.ids import is_uuid
from dsar.tasks.states import COMPLETED, FAILED, IN_PROGRESS
from dsar.uploads.batches import BatchView

QUERY = "personalDataRetrievalTaskBatch"
MAX_PAGE = 1000


@strawberry.input(
    description="Specifies an uploaded CSV file (UTF-8, a header row with an `email` column) to start one personal "
    "data retrieval task per row from."
)
class StartPersonalDataRetrievalTasksInput:
    file_id: str
    client_token: ClientTokenInput | None = None


@strawberry.type
class StartPersonalDataRetrievalTasksResponse:
    batch_id: strawberry.ID


@strawberry.type(description="How many of the batch's tasks are in each status.")
class PersonalDataTaskCounts:
    in_progress: int
    completed: int
    failed: int


@strawberry.type(description="A row of the file that started no task, and why (its content is not repeated).")
class RejectedRow:
    line: int = strawberry.field(description="Line of the file the row starts on; the header is line 1.")
    code: str = strawberry.field(
        description="EMAIL_MISSING, EMAIL_INVALID, EMAIL_TOO_LONG, DUPLICATE_EMAIL or MALFORMED_ROW."
    )
    message: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class RejectedRowEdge:
    cursor: str
    node: RejectedRow


@strawberry.type
class RejectedRowConnection:
    edges: list[RejectedRowEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class PersonalDataRetrievalTaskEdge:
    cursor: str
    node: PersonalDataRetrievalTask


@strawberry.type
class PersonalDataRetrievalTaskConnection:
    edges: list[PersonalDataRetrievalTaskEdge]
    page_info: PageInfo
    total_count: int


def _cursor(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode("ascii")


def _after(kind: str, cursor: str | None, field: str) -> str | None:
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        decoded = ""
    prefix, _, value = decoded.partition(":")
    if prefix != kind or not value:
        raise invalid_input([f"/{QUERY}/{field}/after is not a cursor of this list"])
    return value


def _page_size(first: int, field: str) -> int:
    if first < 1 or first > MAX_PAGE:
        raise invalid_input([f"/{QUERY}/{field}/first must be between 1 and {MAX_PAGE}"])
    return first


def _page_info(cursors: list[str], more: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=more,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@strawberry.type(description="Personal data retrieval tasks started from the rows of an uploaded CSV file.")
class PersonalDataRetrievalTaskBatch:
    batch_id: strawberry.ID
    file_id: str
    status: str = strawberry.field(
        description="IN_PROGRESS while rows are read or tasks run; COMPLETED when every row was read and every "
        "task ended; FAILED when the file could not be read to its end (see errors)."
    )
    submission_date: str
    last_updated_date: str
    rows_read: int = strawberry.field(description="Data rows read so far (blank lines are not counted).")
    tasks_started: int
    rows_rejected: int
    task_counts: PersonalDataTaskCounts
    errors: list[PersonalDataTaskError | None] | None
    _tenant: strawberry.Private[str]

    @strawberry.field(description="The rows that started no task, by line.")
    async def rejected_rows(
        self, info: Info[Context, None], first: int = 100, after: str | None = None
    ) -> RejectedRowConnection:
        limit = _page_size(first, "rejectedRows")
        start = _after("line", after, "rejectedRows")
        if start is not None and not start.isdigit():
            raise invalid_input([f"/{QUERY}/rejectedRows/after is not a cursor of this list"])
        rows = await info.context.call(
            info.context.container.batches.rejections, self._tenant, self.batch_id, int(start or 0), limit + 1
        )
        edges = [
            RejectedRowEdge(
                cursor=_cursor("line", str(r.line)), node=RejectedRow(line=r.line, code=r.code, message=r.message)
            )
            for r in rows[:limit]
        ]
        return RejectedRowConnection(
            edges=edges,
            page_info=_page_info([e.cursor for e in edges], len(rows) > limit, after),
            total_count=self.rows_rejected,
        )

    @strawberry.field(description="The tasks the batch started.")
    async def tasks(
        self, info: Info[Context, None], first: int = 100, after: str | None = None
    ) -> PersonalDataRetrievalTaskConnection:
        limit = _page_size(first, "tasks")
        start = _after("task", after, "tasks")
        views = await info.context.call(
            info.context.container.batches.tasks, self._tenant, self.batch_id, start or "", limit + 1
        )
        edges = [PersonalDataRetrievalTaskEdge(cursor=_cursor("task", v.id), node=_retrieval(v)) for v in views[:limit]]
        return PersonalDataRetrievalTaskConnection(
            edges=edges,
            page_info=_page_info([e.cursor for e in edges], len(views) > limit, after),
            total_count=self.tasks_started,
        )


def _batch(view: BatchView, tenant: str) -> PersonalDataRetrievalTaskBatch:
    counts = view.task_counts
    return PersonalDataRetrievalTaskBatch(
        batch_id=strawberry.ID(view.id),
        file_id=view.file_id,
        status=view.status,
        submission_date=view.submitted_at,
        last_updated_date=view.updated_at,
        rows_read=view.rows_read,
        tasks_started=view.tasks_started,
        rows_rejected=view.rows_rejected,
        task_counts=PersonalDataTaskCounts(
            in_progress=counts.get(IN_PROGRESS, 0), completed=counts.get(COMPLETED, 0), failed=counts.get(FAILED, 0)
        ),
        errors=task_errors(view.errors),
        _tenant=tenant,
    )


@strawberry.type
class BatchQuery:
    @strawberry.field(description="Returns a batch of personal data retrieval tasks started from an uploaded file.")
    async def personal_data_retrieval_task_batch(
        self, info: Info[Context, None], batch_id: str
    ) -> PersonalDataRetrievalTaskBatch | None:
        ctx = info.context
        ctx.require(SCOPE)
        if not is_uuid(batch_id):
            raise invalid_input([f"/{QUERY}/batchId must be a UUID"])
        view = await ctx.call(ctx.container.batches.get, ctx.principal.tenant, batch_id)
        return _batch(view, ctx.principal.tenant)


@strawberry.type
class BatchMutation:
    @strawberry.mutation(
        description="Starts one personal data retrieval task per row of an uploaded CSV file (UTF-8, a header row "
        "with an `email` column). Answers at once with the batch id; rows are read in the background."
    )
    async def start_personal_data_retrieval_tasks(
        self, info: Info[Context, None], input: StartPersonalDataRetrievalTasksInput
    ) -> StartPersonalDataRetrievalTasksResponse | None:
        ctx = info.context
        ctx.require(SCOPE)
        field = "startPersonalDataRetrievalTasks"
        if not is_uuid(input.file_id):
            raise invalid_input([f"/{field}/input/fileId must be a UUID"])
        token = client_token(field, input.client_token)
        batch_id = await ctx.call(ctx.container.batches.start, ctx.principal.tenant, input.file_id, token)
        return StartPersonalDataRetrievalTasksResponse(batch_id=strawberry.ID(batch_id))


__all__ = ["BatchMutation", "BatchQuery"]
