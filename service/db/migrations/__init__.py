"""Alembic revisions of the service's database, applied by `alliance-risk db upgrade`.

New revisions are written by hand in `versions/`, each naming the one before it as
`down_revision`; `service.db.schema` runs them (there is no alembic.ini).
"""
