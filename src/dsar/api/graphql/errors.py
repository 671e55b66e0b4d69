"""The Buy with Prime error classification format, and the formatting of every GraphQL error in it."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from dsar.errors import AccessDenied, Conflict, DsarError, InvalidInput, NotFound

NOT_FOUND_MESSAGE = "Request references a resource which does not exist."
ACCESS_DENIED_MESSAGE = "You do not have sufficient access to perform this action."
INTERNAL_MESSAGE = "Unexpected error during request processing."
GENERIC_INVALID = (
    "Input request is not valid. Retrying the same request is not likely to succeed. An example could be query "
    "or argument value is not correct or valid."
)


class BwpError(Exception):
    """An error to answer exactly with this message and classification."""

    def __init__(self, message: str, classification: dict[str, Any], *, data_null: bool = False) -> None:
        super().__init__(message)
        self.message, self.classification, self.data_null = message, classification, data_null


def invalid_input(issues: list[str]) -> BwpError:
    message = f"Input request is not valid, the following issues were encountered: [{', '.join(issues)}]"
    return validation(message, "UnspecifiedError")


def validation(message: str, code: str) -> BwpError:
    return BwpError(
        message,
        {
            "type": "ValidationError",
            "code": code,
            "details": {"message": message},
            "errorType": "ValidationException",
            "errorCode": 400,
        },
    )


def not_found() -> BwpError:
    return BwpError(
        NOT_FOUND_MESSAGE, {"type": "ResourceNotFoundError", "errorType": "ResourceNotFoundException", "errorCode": 404}
    )


def access_denied() -> BwpError:
    return BwpError(
        ACCESS_DENIED_MESSAGE, {"type": "AccessDeniedError", "errorType": "AccessDeniedException", "errorCode": 403}
    )


def unauthenticated(message: str) -> dict[str, Any]:
    """The whole response to a request without a valid token (sent with HTTP 401)."""
    return {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "classification": {
                        "type": "UnauthorizedError",
                        "errorType": "UnauthorizedException",
                        "errorCode": 401,
                    }
                },
            }
        ],
        "data": None,
    }


def from_domain(exc: DsarError) -> BwpError:
    if isinstance(exc, NotFound):
        return not_found()
    if isinstance(exc, AccessDenied):
        return access_denied()
    if isinstance(exc, InvalidInput):
        return invalid_input(exc.issues) if exc.issues else validation(exc.message, exc.code)
    if isinstance(exc, Conflict):
        return BwpError(
            exc.message,
            {
                "type": "ConflictError",
                "code": exc.code,
                "details": {"message": exc.message},
                "errorType": "ConflictException",
                "errorCode": 409,
            },
        )
    return internal()


def internal() -> BwpError:
    return BwpError(
        INTERNAL_MESSAGE, {"type": "InternalServerError", "errorType": "InternalServerException", "errorCode": 500}
    )


def format_error(err: GraphQLError) -> tuple[dict[str, Any], bool]:
    """The error as JSON, and whether it nulls the whole `data`."""
    original = err.original_error
    out: dict[str, Any] = {"message": err.message}
    if err.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
    if err.path:
        out["path"] = list(err.path)
    data_null = False
    if isinstance(original, BwpError):
        out["message"] = original.message
        out["extensions"] = {"classification": original.classification}
        data_null = original.data_null
    elif isinstance(original, DsarError):
        mapped = from_domain(original)
        out["message"] = mapped.message
        out["extensions"] = {"classification": mapped.classification}
    elif original is not None:
        mapped = internal()
        out["message"] = mapped.message
        out["extensions"] = {"classification": mapped.classification}
    else:  # a syntax or validation error of the document itself
        out["extensions"] = {
            "classification": {"type": "ValidationError", "errorType": "ValidationException", "errorCode": 400}
        }
    return out, data_null
