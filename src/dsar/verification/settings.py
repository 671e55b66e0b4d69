"""Settings of the privacy center at /privacy (`DSAR_PRIVACY__*`); read by bootstrap only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["code", "oidc", "data_points"]


class DataPoint(BaseModel):
    """A question whose answer the data map can check: a value of `field` in a row of `source.collection` that
    belongs to the person (e.g. a recent order number)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1, max_length=200)
    source: str
    collection: str
    field: str


class PrivacyCenterSettings(BaseModel):
    enabled: bool = Field(True, description="serve the privacy center at /privacy")
    request_types: list[str] = Field(
        default_factory=lambda: ["access", "portability", "deletion", "opt_out"],
        description="the request types people may submit (docs/privacy-center.md)",
    )
    levels: dict[str, Level] = Field(
        default_factory=dict,
        description="verification level per request type: code (default), oidc, data_points",
    )
    data_points: list[DataPoint] = Field(
        default_factory=list, description="questions of the data_points level, answered from the data map"
    )
    code_ttl_seconds: int = Field(900, ge=60, le=3600, description="lifetime of an e-mailed verification code")
    code_attempts: int = Field(5, ge=1, le=20, description="wrong codes (or answers) before verification fails")
    codes_per_hour: int = Field(5, ge=1, le=100, description="verification e-mails one address receives per hour")
    auto_approve: list[str] = Field(
        default_factory=lambda: ["access", "portability", "opt_out"],
        description="request types approved by policy once verified (others wait for the team)",
    )
    deletion_holding_days: int = Field(0, ge=0, le=30, description="holding period of deletions from the center")
    appeal_window_days: int = Field(60, ge=1, le=365, description="days after a denial in which it may be appealed")
    reminder_days: int = Field(2, ge=0, le=30, description="the download reminder goes this many days before expiry")
    download_days: int = Field(14, ge=1, le=365, description="how long a completed archive can be downloaded here")
    templates_dir: Path | None = Field(None, description="folder of e-mail templates that replace the shipped ones")
    languages: list[str] = Field(
        default_factory=lambda: ["en", "de", "fr", "es"],
        description="languages offered (shipped: en de fr es)",
    )
    mail_from: str = Field("", description="From address of the center's e-mails (DSAR_ODR__MAIL_FROM when empty)")
    logo_file: Path | None = Field(None, description="the company's logo (PNG, SVG or JPEG file), shown on every page")
    primary_color: str = Field("#2457d6", pattern=r"^#[0-9a-fA-F]{6}$", description="the company's colour")
    regulators: dict[str, str] = Field(
        default_factory=dict,
        description="per rule id, how to contact the regulator, told in denials (e.g. vcdpa: Virginia AG, URL)",
    )
