"""Settings of the Data Portability face and its notifications (`DSAR_PORTABILITY__*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, FilePath


class PortabilitySettings(BaseModel):
    prefix: str = Field("/portability", pattern=r"^(/[A-Za-z0-9._-]+)+$", description="path prefix of the REST face")
    rows_per_part: int = Field(10000, ge=1, le=1_000_000, description="rows per data file; larger collections split")
    link_ttl_seconds: int = Field(
        900, ge=60, le=7 * 24 * 3600, description="lifetime of record links (longer than the five-minute TTL)"
    )
    response_ttl_seconds: int = Field(300, ge=0, le=3600, description="same caller, same parameters: same response")
    rate_limit: int = Field(60, ge=1, description="requests per app per rate window (an app may have its own)")
    rate_window_seconds: int = Field(60, ge=1, le=86400, description="length of the throttling window")
    daily_quota: int = Field(
        1500, ge=1, description="createDataQuery requests per app and scope per UTC day (an app may have its own)"
    )
    allow_private_notify_urls: bool = Field(
        False, description="accept http and loopback/private notification URLs (tests, local receivers)"
    )
    signature_version: Literal["1", "2"] = Field("1", description="SNS SignatureVersion: 1 = SHA1withRSA, 2 = SHA256")
    notify_timeout_seconds: float = Field(10.0, gt=0, description="timeout of one delivery attempt")
    notify_ca_bundle: FilePath | None = Field(
        None, description="PEM file of the certificate authorities https deliveries trust (default: certifi's)"
    )
    notify_backoff_seconds: float = Field(30.0, gt=0, description="first retry delay; doubles, with jitter")
    notify_max_backoff_seconds: float = Field(3600.0, gt=0, description="longest retry delay")
    notify_give_up_hours: float = Field(72.0, ge=24, description="retry this long before a message is dead")
