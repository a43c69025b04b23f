"""The FastAPI service: `app` builds it, `deps` holds its dependencies, `settings` its one
settings object; `routes` (thin), `answers`, `ehr` (FHIR, CDS Hooks), `model`, `security`,
`audit`, `middleware`, `reports` and `observability` hold what their names say."""
