"""The privacy center's pages at /privacy: thin, like the other faces (parse the form, call one service method
of `dsar.verification.center.PrivacyCenter`, render a template or redirect)."""

from dsar.api.web.privacy.routes import privacy_router

__all__ = ["privacy_router"]
