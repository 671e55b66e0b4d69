"""What the Open Data Rights routes are given by the composition root: the requests, the sign-in, the config."""

from __future__ import annotations

from dataclasses import dataclass

from dsar.odr.oauth import OdrAuth
from dsar.odr.service import OdrConfig, OdrRequests

OIDC_CALLBACK = "/oauth/oidc/callback"  # where the company's identity provider sends people back, under the prefix


@dataclass(frozen=True)
class Odr:
    requests: OdrRequests
    auth: OdrAuth
    config: OdrConfig
