"""Each CDS client token is good for one call, on whichever replica it reaches.

The `(iss, jti)` pairs already used are kept in the shared database until their token
expires, so a token replayed to another replica is refused as surely as one replayed to
the same process. The key is a SHA-256 of the pair: fixed in size, and the caller's
strings are not stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.db.base import Base
from service.db.expiry import PeriodicPurge
from service.security.jwt import TokenRejectedError

#: How often a process deletes the entries of expired tokens.
PURGE_EVERY_SECONDS = 60.0


class TokenUse(Base):
    """A token that was used, until it expires (then it is refused as expired anyway)."""

    __tablename__ = "cds_token_uses"

    token_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class ReplayCache:
    """`first_use` records a token in the shared database; thread- and replica-safe.

    Fails closed: when the database cannot take the record, the token is refused rather
    than let through unrecorded (it could then be replayed).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        leeway_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.leeway = leeway_seconds
        self._purge_expired = PeriodicPurge(
            engine, [TokenUse], every_seconds=PURGE_EVERY_SECONDS, clock=clock
        )

    def first_use(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record the token; False when this `(iss, jti)` was already used and is unexpired."""
        key = hashlib.sha256(f"{issuer}\0{jti}".encode()).hexdigest()
        # Kept past `exp` by the verifier's leeway, during which the token still verifies.
        keep_until = dt.datetime.fromtimestamp(expires_at + self.leeway, dt.UTC)
        self._purge_expired()
        try:
            with Session(self.engine) as session, session.begin():
                session.add(TokenUse(token_key=key, expires_at=keep_until))
        except IntegrityError:
            return False
        except Exception:
            raise TokenRejectedError(
                "the token could not be recorded as used; try again shortly"
            ) from None
        return True
