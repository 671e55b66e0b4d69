"""Buy with Prime upload operations: `createUploadLink` (both API versions) and `downloadLink`.

`x-api-version` before 2024-04-01 (or none) gets the shape of api-docs 004: `input: {fileExtension, size}`
answering the `UploadLink` itself, and the old error format. From 2024-04-01 the input has `fileType` and the
answer is a `CreateUploadLinkResponse` with the link in `payload` (spec/apis.md §1.5).
"""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from dsar.api.graphql.context import Context
from dsar.api.graphql.errors import GENERIC_INVALID, BwpError
from dsar.kit.ids import is_uuid
from dsar.tasks.validation import int_range_issues

FILES_SCOPE = "files:manage"


@strawberry.enum(description="Type of the file to upload (API version 2024-01-01).")
class FileExtension(Enum):
    CSV = "CSV"


@strawberry.enum(description="Type of the file to upload.")
class FileType(Enum):
    CSV = "CSV"


@strawberry.input(description="Specifies the input fields to create an UploadLink.")
class UploadLinkInput:
    file_extension: FileExtension
    size: int = strawberry.field(description="Size of the file in bytes; the PUT must send exactly this many.")


@strawberry.input(description="Specifies the input fields to create an upload link.")
class CreateUploadLinkInput:
    file_type: FileType
    size: int = strawberry.field(description="Size of the file in bytes; the PUT must send exactly this many.")


@strawberry.type(description="A temporary upload URL, and the id of the file it uploads.")
class UploadLink:
    upload_url: str = strawberry.field(
        description="URL for uploading the file with an HTTP PUT (Content-Length: the declared size, "
        "Content-Type: text/csv). The link expires after 15 minutes (by default) and can be used once."
    )
    file_id: str = strawberry.field(
        description="The unique identifier for the uploaded file. The file expires and is deleted after 30 days "
        "(by default)."
    )


@strawberry.type
class CreateUploadLinkResponse:
    payload: UploadLink


@strawberry.type(description="A short-lived link to download an uploaded file.")
class DownloadLink:
    download_url: str = strawberry.field(description="URL for an HTTP GET of the file; it expires shortly.")


def generic_invalid() -> BwpError:
    """The error format of API version 2024-01-01 (api-docs 004): no details, and `data: null`."""
    return BwpError(GENERIC_INVALID, {"errorType": "ValidationException", "errorCode": 400}, data_null=True)


def _size_issues(ctx: Context, size: int) -> list[str]:
    return int_range_issues(size, "/createUploadLink/input/size", 1, ctx.container.uploads.max_bytes)


async def _create(ctx: Context, file_type: str, size: int) -> UploadLink:
    file_id, url = await ctx.call(ctx.container.uploads.create_link, ctx.principal.tenant, file_type, size)
    return UploadLink(upload_url=url, file_id=file_id)


@strawberry.type
class UploadLinkMutation:
    """`createUploadLink` as of API version 2024-01-01 (api-docs 004)."""

    @strawberry.mutation(
        description="Get a temporary upload URL for uploading a file. Once the file is uploaded, the fileId can be "
        "passed to other operations. This is a temporary file store: the file expires and is deleted after 30 days."
    )
    async def create_upload_link(self, info: Info[Context, None], input: UploadLinkInput) -> UploadLink:
        ctx = info.context
        ctx.require(FILES_SCOPE)
        if _size_issues(ctx, input.size):
            raise generic_invalid()
        return await _create(ctx, input.file_extension.value, input.size)


@strawberry.type
class CreateUploadLinkMutation:
    """`createUploadLink` from API version 2024-04-01."""

    @strawberry.mutation(
        description="Get a temporary upload URL for uploading a file. Once the file is uploaded, the fileId can be "
        "passed to other operations. This is a temporary file store: the file expires and is deleted after 30 days."
    )
    async def create_upload_link(
        self, info: Info[Context, None], input: CreateUploadLinkInput
    ) -> CreateUploadLinkResponse | None:
        ctx = info.context
        ctx.require(FILES_SCOPE)
        issues = _size_issues(ctx, input.size)
        if issues:
            message = f"Input request is not valid, the following issues were encountered: [{', '.join(issues)}]"
            raise BwpError(
                message,
                {
                    "type": "ValidationError",
                    "code": "UnspecifiedError",
                    "details": {},
                    "errorType": "ValidationException",
                    "errorCode": 400,
                },
            )
        return CreateUploadLinkResponse(payload=await _create(ctx, input.file_type.value, input.size))


@strawberry.type
class UploadQuery:
    @strawberry.field(description="A short-lived link to download an uploaded file.")
    async def download_link(self, info: Info[Context, None], file_id: str) -> DownloadLink | None:
        ctx = info.context
        ctx.require(FILES_SCOPE)
        if not is_uuid(file_id):
            raise generic_invalid()
        url = await ctx.call(ctx.container.uploads.download_url, ctx.principal.tenant, file_id)
        return DownloadLink(download_url=url)


__all__ = ["FILES_SCOPE", "CreateUploadLinkMutation", "UploadLinkMutation", "UploadQuery"]
