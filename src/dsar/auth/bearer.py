"""Bearer tokens signed by this server: parse the header, verify the JWT, check expiry against our clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jwt

from dsar.errors import Unauthenticated

INVALID = "The security token included in the request is invalid."


def bearer_claims(
    authorization: str | None, key: bytes, *, issuer: str, audience: str, typ: str, now: datetime
) -> dict[str, Any]:
    """The verified claims of an `Authorization: Bearer <JWT>` header; Unauthenticated(missing|invalid|expired)."""
    if not authorization or not authorization.strip():
        raise Unauthenticated("Missing authentication token.", code="missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(INVALID, code="invalid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            key,
            algorithms=["HS256"],
            audience=audience,
            issuer=issuer,
            # Times are checked below against dsar's clock (tests move it), not PyJWT's.
            options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Unauthenticated(INVALID, code="invalid") from None
    if claims.get("typ") != typ:
        raise Unauthenticated(INVALID, code="invalid")
    if int(claims["exp"]) <= int(now.timestamp()):
        raise Unauthenticated("The security token included in the request is expired.", code="expired")
    return claims
