"""The respondents' page of a manual step at /steps/<signed token> (docs/manual-sources.md)."""

from dsar.api.web.steps.routes import steps_router

__all__ = ["steps_router"]
