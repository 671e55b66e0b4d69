"""Settings of the Open Data Rights face (`DSAR_ODR__*`); read by bootstrap only."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class OdrSettings(BaseModel):
    prefix: str = Field("/odr", pattern=r"^(/[A-Za-z0-9._-]+)+$", description="path prefix of the API")
    client_id: str = Field("open-data-rights", min_length=1, max_length=64, description="the public OAuth client id")
    max_requests: int = Field(3, ge=1, le=100, description="requests one person may have in progress at once")
    retention_days: int = Field(14, ge=1, le=365, description="completed requests and archives expire after this")
    organisation_name: str = Field("", description="organisationName in /settings (company_name when empty)")
    legal_entity: str = Field("", description="legalEntity in /settings (company_name when empty)")
    privacy_policy: str = Field("", description="privacyPolicy URL in /settings")
    terms_of_service: str = Field("", description="termsOfService URL in /settings")
    forgot_password_link: str = Field("", description="forgotPasswordLink URL in /settings")
    privacy_contact_email: str = Field("", description="privacyContactEmail in /settings")
    access_token_ttl_seconds: int = Field(3600, ge=60, le=86400, description="lifetime of ODR access tokens")
    refresh_token_ttl_days: int = Field(30, ge=1, le=365, description="lifetime of refresh tokens")
    code_ttl_seconds: int = Field(600, ge=60, le=3600, description="lifetime of the e-mailed sign-in code")
    code_attempts: int = Field(5, ge=1, le=20, description="wrong sign-in codes before the sign-in must restart")
    codes_per_hour: int = Field(5, ge=1, le=100, description="sign-in e-mails one address receives per hour")
    auth_code_ttl_seconds: int = Field(60, ge=10, le=600, description="lifetime of OAuth authorization codes")
    plain_redirect_uris: list[str] = Field(
        default_factory=lambda: ["aeon://odr-callback"],
        description="redirect URIs allowed to sign in without PKCE (the Aeon app); empty = PKCE for all",
    )
    smtp_host: str = Field("", description="SMTP server for sign-in codes; empty = write .eml files to data_dir/outbox")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    smtp_security: Literal["starttls", "ssl", "none"] = Field("starttls", description="SMTP transport security")
    smtp_username: str = Field("", description="SMTP user (no login when empty)")
    smtp_password: str = Field("", description="SMTP password")
    mail_from: str = Field("privacy@localhost", description="From address of sign-in e-mails")
    oidc_issuer: str = Field("", description="the company's OpenID Connect issuer URL; empty = no company sign-in")
    oidc_client_id: str = Field("", description="dsar's client id at the company's OpenID Connect provider")
    oidc_client_secret: str = Field("", description="dsar's client secret there")
    oidc_label: str = Field("Sign in with your company account", description="text of the company sign-in button")
    janitor_interval_seconds: int = Field(3600, ge=1, description="how often expired requests are deleted")
