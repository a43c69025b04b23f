"""The declarative base of every table in the service's database.

One base, so that the tables of the audit trail (`service.audit.store`), of CDS replay
protection (`service.security.replay`) and of CDS cards and feedback
(`service.ehr.cds.records`) can be compared with the migrations as one schema.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
