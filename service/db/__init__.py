"""The service's database: the audit trail and the CDS Hooks state that replicas share.

`base` holds the declarative base every table maps to; `migrations/` the Alembic
revisions that create and change those tables; `schema` compares a database with this
code's revision and upgrades it (`alliance-risk db upgrade`).
"""
