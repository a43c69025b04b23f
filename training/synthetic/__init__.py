"""A synthetic clinic cohort calibrated to the literature, with its true risks (the oracle)."""

from training.synthetic.generator import SyntheticCohort, generate_cohort, write_cohort
from training.synthetic.parameters import CohortParameters

__all__ = ["CohortParameters", "SyntheticCohort", "generate_cohort", "write_cohort"]
