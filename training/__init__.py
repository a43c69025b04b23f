"""Training-side code: synthetic cohorts, model fitting and evaluation (never imported by the service)."""
