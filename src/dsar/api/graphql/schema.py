"""The GraphQL schemas (Buy with Prime shape), one per API version that changed an operation.

`x-api-version` 2024-04-01 or later gets the newer `createUploadLink`; no header (or an earlier version) the
shape of api-docs 004. Everything else is the same in both.
`python -m dsar.api.graphql.schema [VERSION]` prints the SDL of the schema a version gets.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from dsar.api.graphql.batches import BatchMutation, BatchQuery
from dsar.api.graphql.deletion import DeletionMutation, DeletionQuery
from dsar.api.graphql.preferences import PreferenceMutation, PreferenceQuery
from dsar.api.graphql.privacy import PrivacyMutation, PrivacyQuery
from dsar.api.graphql.rectification import RectificationMutation, RectificationQuery
from dsar.api.graphql.requests import RequestMutation, RequestQuery
from dsar.api.graphql.uploads import CreateUploadLinkMutation, UploadLinkMutation, UploadQuery

V2024_04_01 = "2024-04-01"
SDL_PATH = Path(__file__).with_name("schema.graphql")
SDL_PATHS = {None: SDL_PATH, V2024_04_01: Path(__file__).with_name(f"schema-{V2024_04_01}.graphql")}
_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@strawberry.type
class Query(PrivacyQuery, DeletionQuery, UploadQuery, BatchQuery, RequestQuery, RectificationQuery, PreferenceQuery):
    pass


@strawberry.type
class Mutation(
    PrivacyMutation,
    DeletionMutation,
    UploadLinkMutation,
    BatchMutation,
    RequestMutation,
    RectificationMutation,
    PreferenceMutation,
):
    pass


@strawberry.type(name="Mutation")
class Mutation20240401(
    PrivacyMutation,
    DeletionMutation,
    CreateUploadLinkMutation,
    BatchMutation,
    RequestMutation,
    RectificationMutation,
    PreferenceMutation,
):
    pass


class QuietSchema(strawberry.Schema):
    """Errors are answered to the caller and logged by the endpoint without their text (no personal data)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


# Parsing and validating a document costs more than answering it (graphql-core walks the whole document with
# every validation rule: ~3 ms of a ~4 ms query). Both depend only on the query text and the schema, so they
# are cached per text (bounded LRU: a client that sends endless distinct texts only evicts entries). Clients
# that poll with the same text (or with variables) hit the cache; see docs/performance.md, B6.
CACHE_SIZE = 1024


class _ParserCache(ParserCache):
    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)


class _ValidationCache(ValidationCache):
    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)


# Bounds on what one document may ask (a security review: 100,000 aliased fields took 4 s of CPU; 600 aliased
# mutations started 600 tasks). A document over a bound is refused before anything runs, as a validation error.
MAX_ALIASES = 30
MAX_TOKENS = 5000
MAX_DEPTH = 12


class _Aliases(MaxAliasesLimiter):
    def __init__(self) -> None:
        super().__init__(max_alias_count=MAX_ALIASES)


class _Tokens(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


class _Depth(QueryDepthLimiter):
    def __init__(self) -> None:
        super().__init__(max_depth=MAX_DEPTH)


_EXTENSIONS = [_Tokens, _ParserCache, _Aliases, _Depth, _ValidationCache]
schema = QuietSchema(query=Query, mutation=Mutation, extensions=_EXTENSIONS)
schema_2024_04_01 = QuietSchema(query=Query, mutation=Mutation20240401, extensions=_EXTENSIONS)


class UnsupportedVersion(ValueError):
    """An `x-api-version` that is not a date like 2024-04-01."""


def schema_for(api_version: str | None) -> QuietSchema:
    """The schema a request gets by its `x-api-version` header (absent: the 2024-01-01 shape)."""
    if api_version is None or not api_version.strip():
        return schema
    version = api_version.strip()
    if not _VERSION.fullmatch(version):
        raise UnsupportedVersion(version)
    return schema_2024_04_01 if version >= V2024_04_01 else schema


def sdl(version: str | None = None) -> str:
    return schema_for(version).as_str() + "\n"


if __name__ == "__main__":
    print(sdl(sys.argv[1] if len(sys.argv) > 1 else None), end="")
