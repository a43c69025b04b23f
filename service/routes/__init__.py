"""One thin module per resource: each calls into `answers`, `ehr` or `reports`, takes its
dependencies from `service.deps`, and imports no other route; `service.app` wires them."""
