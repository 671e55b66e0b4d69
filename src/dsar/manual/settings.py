"""Settings of manual steps (`DSAR_MANUAL__*`); read by bootstrap only."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ManualSettings(BaseModel):
    link_days: int = Field(7, ge=1, le=90, description="lifetime of a respondent's link (a reminder sends a new one)")
    max_upload_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="largest file a respondent may upload"
    )
    max_files: int = Field(10, ge=1, le=100, description="files per answer")
    poll_seconds: int = Field(
        300, ge=1, le=86400, description="how often a task waiting for a manual step looks again (no worker is held)"
    )
    retention_days: int = Field(
        30, ge=1, le=3650, description="days after a step closed until its uploads and whom it searched for are deleted"
    )
    mail_from: str = Field("", description="From address of the respondents' e-mails (DSAR_ODR__MAIL_FROM when empty)")
