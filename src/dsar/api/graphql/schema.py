"""The GraphQL schema (Buy with Prime shape). `python -m dsar.api.graphql.schema` prints the SDL."""

from __future__ import annotations

from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from dsar.api.graphql.deletion import DeletionMutation, DeletionQuery
from dsar.api.graphql.privacy import PrivacyMutation, PrivacyQuery

SDL_PATH = Path(__file__).with_name("schema.graphql")


@strawberry.type
class Query(PrivacyQuery, DeletionQuery):
    pass


@strawberry.type
class Mutation(PrivacyMutation, DeletionMutation):
    pass


class QuietSchema(strawberry.Schema):
    """Errors are answered to the caller and logged by the endpoint without their text (no personal data)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


schema = QuietSchema(query=Query, mutation=Mutation)


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
