"""The GraphQL schemas (Buy with Prime shape), one per API version that changed an operation.

`x-api-version` 2024-04-01 or later gets the newer `createUploadLink`; no header (or an earlier version) the
shape of api-docs 004. Everything else is the same in both.
`python -m dsar.api.graphql.schema [VERSION]` prints the SDL of the schema a version gets.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio.to_thread
import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.schema.schema import validate_document
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
# that poll with the same text (or with variables) hit the cache; see docs/performance.md, B6. Only texts of at
# most INLINE_CHARS are cached, so that the bound is one of memory too: a parsed document takes ~6 KB for a
# 100-character query, up to ~200 KB at 2,000 characters and ~3 MB at the 5,000-token limit (at most ~25 MB for
# 128 short texts; 256 long ones could have held ~750 MB). Both caches hold the same documents.
CACHE_SIZE = 128


# A long document is parsed and validated in a worker thread, not on the event loop: within the bounds below,
# graphql-core's validation (some rules compare every pair of fields) still takes up to ~1.5 s for 5,000
# tokens, which would stall every other request of the process, /healthz included. Short documents (nearly
# all real ones, and the only ones cached) stay on the loop: a thread hop would cost more than they do.
INLINE_CHARS = 2000


class _ParserCache(ParserCache):
    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)

    async def on_parse(self) -> AsyncIterator[None]:  # type: ignore[override]
        ctx = self.execution_context
        query = ctx.query
        if query is not None and len(query) > INLINE_CHARS:
            parse_long = functools.partial(parse, query, **ctx.parse_options)
            ctx.graphql_document = await anyio.to_thread.run_sync(parse_long)
        else:
            ctx.graphql_document = self.cached_parse_document(ctx.query, **ctx.parse_options)
        yield


class _ValidationCache(ValidationCache):
    def __init__(self) -> None:
        super().__init__(maxsize=CACHE_SIZE)

    async def on_validate(self) -> AsyncIterator[None]:  # type: ignore[override]
        ctx = self.execution_context
        document, long = ctx.graphql_document, ctx.query is not None and len(ctx.query) > INLINE_CHARS
        if long and document is not None:
            validate = functools.partial(validate_document, ctx.schema._schema, document, ctx.validation_rules)
            ctx.pre_execution_errors = await anyio.to_thread.run_sync(validate)
        else:
            ctx.pre_execution_errors = self.cached_validate_document(ctx.schema._schema, document, ctx.validation_rules)
        yield


# Bounds on what one document may ask (a security review: 100,000 aliased fields took 4 s of CPU; 600 aliased
# mutations started 600 tasks). A document over a bound is refused before anything runs, as a validation error.
MAX_ALIASES = 30
MAX_TOKENS = 5000
MAX_DEPTH = 12


class _Tokens(MaxTokensLimiter):
    def __init__(self) -> None:
        super().__init__(max_token_count=MAX_TOKENS)


# The alias and depth rules are made ONCE. strawberry's MaxAliasesLimiter and QueryDepthLimiter make a new rule
# class on every request (extensions are built per request): the validation cache, keyed by the rules, then
# never hit, and kept up to CACHE_SIZE entries of dead classes alive (bench/soak.py: +35 MB over 150 retrievals).
_RULES = (
    max_aliases.create_validator(MAX_ALIASES),
    query_depth_limiter.create_validator(MAX_DEPTH, None),
)


class _Limits(AddValidationRules):
    def __init__(self) -> None:
        super().__init__(list(_RULES))


MAX_MUTATIONS = 30  # the default of DSAR_GRAPHQL_MAX_MUTATIONS


def mutation_count(selections: SelectionSetNode, fragments: dict[str, SelectionSetNode], seen: set[str]) -> int:
    """Root fields a mutation runs, through fragments (each fragment once: a cycle is a validation error)."""
    count = 0
    for node in selections.selections:
        if isinstance(node, FieldNode):
            count += 1
        elif isinstance(node, InlineFragmentNode):
            count += mutation_count(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments and node.name.value not in seen:
            seen.add(node.name.value)
            count += mutation_count(fragments[node.name.value], fragments, seen)
    return count


class _Mutations(SchemaExtension):
    """At most `max_mutations` root fields in a mutation (a setting, read from the request's context): each one
    may start a task. Runs after validation (placed after the validation cache: a document with validation
    errors answers those)."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        limit = getattr(ctx.context, "max_mutations", MAX_MUTATIONS)
        document = ctx.graphql_document
        if document is not None and not ctx.pre_execution_errors:
            defs = document.definitions
            fragments = {d.name.value: d.selection_set for d in defs if isinstance(d, FragmentDefinitionNode)}
            for op in document.definitions:
                if not isinstance(op, OperationDefinitionNode) or op.operation.value != "mutation":
                    continue
                if ctx.operation_name is not None and (op.name is None or op.name.value != ctx.operation_name):
                    continue
                found = mutation_count(op.selection_set, fragments, set())
                if found > limit:
                    ctx.pre_execution_errors = [
                        GraphQLError(f"{found} mutations in one request. Allowed: {limit}", nodes=[op])
                    ]
        yield


_EXTENSIONS = [_Tokens, _ParserCache, _Limits, _ValidationCache, _Mutations]
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
