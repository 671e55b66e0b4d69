"""The one table of rate limits: hits per (keyed hash of) key and window. Owned by dsar.ratelimit."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base


class RateWindow(Base):
    __tablename__ = "rate_limit_windows"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<rule>:<keyed hash of the caller>"
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)  # epoch seconds
    hits: Mapped[int] = mapped_column(Integer, default=0)
