"""Builds the Open Data Rights face from the container (called by `bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dsar.odr.mail import Mailer, OutboxMailer, SmtpMailer
from dsar.odr.oauth import OdrAuth
from dsar.odr.oidc import OidcClient
from dsar.odr.service import OdrConfig, OdrRequests

OIDC_CALLBACK = "/oauth/oidc/callback"

if TYPE_CHECKING:
    from dsar.bootstrap import Container


@dataclass(frozen=True)
class Odr:
    requests: OdrRequests
    auth: OdrAuth
    config: OdrConfig


def build_odr(c: Container) -> Odr:
    s = c.settings
    o = s.odr
    public = s.public_url.rstrip("/")
    contact = o.privacy_contact_email or (s.privacy_contact if "@" in s.privacy_contact else "")
    config = OdrConfig(
        settings=o,
        public_url=public,
        organisation=o.organisation_name or s.company_name,
        legal_entity=o.legal_entity or s.company_name,
        contact_email=contact,
    )
    requests = OdrRequests(
        c.db,
        c.clock,
        c.storage,
        lambda: c.datamap.odr,
        c.tasks.subject_ref,
        lambda task_id: c.runner.notify(task_id),
        config,
    )
    mailer: Mailer = SmtpMailer(o) if o.smtp_host else OutboxMailer(s.data_dir.resolve() / "outbox")
    oidc = None
    if o.oidc_issuer:
        oidc = OidcClient(o.oidc_issuer, o.oidc_client_id, o.oidc_client_secret, public + o.prefix + OIDC_CALLBACK)
    auth = OdrAuth(
        c.db,
        c.clock,
        c.key("odr-oauth"),
        c.endusers,
        mailer,
        o,
        c.tasks.subject_ref,
        config.organisation,
        issuer=public + o.prefix,
        oidc=oidc,
    )
    return Odr(requests, auth, config)
