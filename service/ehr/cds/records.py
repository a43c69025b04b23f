"""What the CDS service remembers: the cards it issued and the feedback it received.

Both are bounded, in memory, per process, and hold no health data: a card is kept only as
its uuid, and feedback as the card, the outcome, the override reason's code and the time.
A clinician's free-text `userComment` may mention the client, so it is not kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass

from service.ehr.cds.hooks import Feedback

logger = logging.getLogger("alliance_risk.cds")


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    card: str
    outcome: str
    outcome_timestamp: dt.datetime
    override_reason: str | None
    accepted_suggestions: int
    known_card: bool
    received_at: dt.datetime


class CdsRecords:
    """Issued card uuids (to tell feedback on our cards from stray ones) and feedback."""

    def __init__(self, max_cards: int = 50_000, max_feedback: int = 10_000) -> None:
        self._cards: OrderedDict[str, str] = OrderedDict()
        self._max_cards = max_cards
        self.feedback: deque[FeedbackRecord] = deque(maxlen=max_feedback)
        self._lock = threading.Lock()

    def issued(self, card_uuid: str, service_id: str) -> None:
        with self._lock:
            self._cards[card_uuid] = service_id
            while len(self._cards) > self._max_cards:
                self._cards.popitem(last=False)

    def record(self, service_id: str, item: Feedback) -> FeedbackRecord:
        reason = item.override_reason.reason if item.override_reason else None
        with self._lock:
            record = FeedbackRecord(
                service_id=service_id,
                card=item.card,
                outcome=item.outcome,
                outcome_timestamp=item.outcome_timestamp,
                override_reason=f"{reason.system}|{reason.code}" if reason else None,
                accepted_suggestions=len(item.accepted_suggestions or []),
                known_card=self._cards.get(item.card) == service_id,
                received_at=dt.datetime.now(dt.UTC),
            )
            self.feedback.append(record)
        # The card id comes from the caller: it is kept, not logged.
        logger.info(
            "cds feedback: %s, on %s",
            record.outcome,
            "a card this process issued" if record.known_card else "a card not issued here",
        )
        return record
