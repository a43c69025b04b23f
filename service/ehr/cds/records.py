"""What the CDS service remembers: the cards it issued and the feedback it received.

Both live in the shared database, so feedback on a card is recognised whichever replica
issued the card, and both expire after `ALLIANCE_RISK_CDS_RETENTION_DAYS`. They hold no
health data: a card is kept only as its uuid, and feedback as the card, the outcome, the
override reason's code and the time. A clinician's free-text `userComment` may mention
the client, so it is not kept.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Boolean, DateTime, Integer, String, Text, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.concurrency import run_in_threadpool

from service.db.base import Base
from service.db.expiry import PeriodicPurge
from service.db.group_commit import Row
from service.ehr.cds.hooks import Feedback

logger = logging.getLogger("alliance_risk.cds")

#: How often a process deletes expired cards and feedback.
PURGE_EVERY_SECONDS = 300.0


class IssuedCard(Base):
    __tablename__ = "cds_cards"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class FeedbackRecord(Base):
    __tablename__ = "cds_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    service_id: Mapped[str] = mapped_column(String(200))
    card: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    override_reason: Mapped[str | None] = mapped_column(Text)
    accepted_suggestions: Mapped[int] = mapped_column(Integer)
    known_card: Mapped[bool] = mapped_column(Boolean)


_ISSUE = insert(IssuedCard)


class CdsRecords:
    """Issued card uuids (to tell feedback on our cards from stray ones) and feedback."""

    def __init__(self, engine: Engine, *, retention_days: float) -> None:
        """`engine` is the audit trail's: cards are committed with the calls' audit records."""
        self.engine = engine
        self.retention = dt.timedelta(days=retention_days)
        self._purge_expired = PeriodicPurge(
            self.engine, [IssuedCard, FeedbackRecord], every_seconds=PURGE_EVERY_SECONDS
        )

    async def issued_row(self, card_uuid: str, service_id: str) -> Row:
        """The row recording a card, for the call's audit record to take along
        (`AuditNotes.rows`): the card goes out only once both are committed, in one
        transaction, so the call waits for one commit instead of two in turn. Expired
        cards and feedback are deleted first when it is time."""
        if self._purge_expired.due():
            await run_in_threadpool(self._purge_expired)
        now = dt.datetime.now(dt.UTC)
        row = {
            "uuid": card_uuid,
            "service_id": service_id,
            "issued_at": now,
            "expires_at": now + self.retention,
        }
        return (_ISSUE, row)

    def record(self, service_id: str, item: Feedback) -> None:
        reason = item.override_reason.reason if item.override_reason else None
        now = dt.datetime.now(dt.UTC)
        with Session(self.engine) as session, session.begin():
            known = session.scalar(
                select(IssuedCard.uuid).where(
                    IssuedCard.uuid == item.card,
                    IssuedCard.service_id == service_id,
                    IssuedCard.expires_at >= now,
                )
            )
            record = FeedbackRecord(
                received_at=now,
                expires_at=now + self.retention,
                service_id=service_id,
                card=item.card,
                outcome=item.outcome,
                outcome_timestamp=item.outcome_timestamp,
                override_reason=f"{reason.system}|{reason.code}" if reason else None,
                accepted_suggestions=len(item.accepted_suggestions or []),
                known_card=known is not None,
            )
            session.add(record)
        # The card id comes from the caller: it is kept, not logged.
        logger.info(
            "cds feedback: %s, on %s",
            item.outcome,
            "a card this service issued" if known is not None else "a card not issued here",
        )
