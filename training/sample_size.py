"""Are the data large enough for the model? Checked per outcome before anything is fitted.

The minimum sample size follows Riley et al. (2020, BMJ 368:m441) for a binary outcome:
the largest n of three criteria,
1. expected shrinkage of at least 0.9: n = P / ((S - 1) ln(1 - R2cs / S)), S = 0.9;
2. optimism of at most 0.05 in Nagelkerke's R2: the same formula with
   S = R2cs / (R2cs + 0.05 max(R2cs)), max(R2cs) = 1 - (phi^phi (1 - phi)^(1 - phi))^2;
3. the overall risk estimated within 0.05: n = (1.96 / 0.05)^2 phi (1 - phi);
with P candidate predictor parameters and outcome proportion phi. Without an earlier model
of the same outcome to anticipate R2cs from, Riley et al. advise a conservative R2cs of 15%
of its maximum, which is used here.

Implemented here (the `pmsampsize` package is not in the package index this project
installs from); tests check it against the published worked example (n = 662).

Events are counted in clients, not rows: a client's landmark rows share one outcome and are
not independent observations. Below Riley's minimum training warns. Below the floor of
`MIN_EVENTS_PER_PARAMETER` events per candidate parameter it refuses unless allowed: in
logistic regression, bias and poor interval coverage became common below 5 events per
variable, while 5 to 9 did about as well as 10 or more (Vittinghoff & McCulloch 2007, Am J
Epidemiol 165:710; the older rule of 10 is Peduzzi et al. 1996, J Clin Epidemiol 49:1373).
A boosted tree model needs more data than a regression, not less (van der Ploeg et al.
2014, BMC Med Res Methodol 14:137), so under 5 no figure of the run can be trusted. Riley's
minimum asks for more than 5 events per parameter at any outcome proportion above 0.5%,
so the floor lies below it and warnings come first.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_schemas.ranges import LANDMARKS
from data_schemas.tables import ClinicTables
from features.labels import OUTCOMES, OutcomeDefinitions, landmark_labels
from features.registry import FEATURES

TARGET_SHRINKAGE = 0.9
NAGELKERKE_OPTIMISM = 0.05
RISK_MARGIN = 0.05
#: Anticipated Cox-Snell R2 as a share of its maximum when nothing better is known.
ANTICIPATED_R2_SHARE = 0.15
MIN_EVENTS_PER_PARAMETER = 5.0


def candidate_parameters(exclude: Collection[str] = ()) -> int:
    """Candidate predictor parameters: one per numeric or binary feature, and categories
    minus one per categorical feature (as dummy variables in a regression would need).
    Features left out of training (`exclude`) are not candidates."""
    return sum(max(1, len(spec.categories) - 1) for spec in FEATURES if spec.name not in exclude)


def max_cox_snell_r2(prevalence: float) -> float:
    """The largest Cox-Snell R2 a model of an outcome with this proportion can reach."""
    log_likelihood = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1 - math.exp(2 * log_likelihood)


def _shrinkage_n(parameters: int, r2_cs: float, shrinkage: float) -> float:
    return parameters / ((shrinkage - 1) * math.log(1 - r2_cs / shrinkage))


@dataclass(frozen=True)
class RileyMinimum:
    """The three criteria's sample sizes and the minimum (their largest), rounded up."""

    shrinkage_criterion: int
    optimism_criterion: int
    overall_risk_criterion: int
    r2_cs: float
    max_r2_cs: float

    @property
    def minimum(self) -> int:
        return max(self.shrinkage_criterion, self.optimism_criterion, self.overall_risk_criterion)


def riley_minimum(parameters: int, prevalence: float, r2_cs: float | None = None) -> RileyMinimum:
    """Riley et al. (2020) minimum sample size for a binary outcome (see the module)."""
    max_r2 = max_cox_snell_r2(prevalence)
    r2 = ANTICIPATED_R2_SHARE * max_r2 if r2_cs is None else r2_cs
    optimism_shrinkage = r2 / (r2 + NAGELKERKE_OPTIMISM * max_r2)
    risk = (1.96 / RISK_MARGIN) ** 2 * prevalence * (1 - prevalence)
    # Rounded to 9 places first, so a product that is an integer up to floating point
    # (e.g. 220.99999999999997) is not rounded up past it.
    return RileyMinimum(
        shrinkage_criterion=math.ceil(round(_shrinkage_n(parameters, r2, TARGET_SHRINKAGE), 9)),
        optimism_criterion=math.ceil(
            round(_shrinkage_n(parameters, r2, max(optimism_shrinkage, TARGET_SHRINKAGE)), 9)
        ),
        overall_risk_criterion=math.ceil(round(risk, 9)),
        r2_cs=r2,
        max_r2_cs=max_r2,
    )


@dataclass(frozen=True)
class OutcomeSampleSize:
    """One outcome's training clients and events against Riley's minimum and the floor."""

    outcome: str
    clients: int
    events: int
    parameters: int
    minimum_clients: int | None
    minimum_events: int | None
    criteria: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_parameter(self) -> float:
        return self.events / self.parameters

    @property
    def below_minimum(self) -> bool:
        return self.minimum_clients is None or self.clients < self.minimum_clients

    @property
    def below_floor(self) -> bool:
        return self.events_per_parameter < MIN_EVENTS_PER_PARAMETER

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "events_per_parameter": self.events_per_parameter,
            "below_minimum": self.below_minimum,
            "below_floor": self.below_floor,
        }


@dataclass(frozen=True)
class SampleSizeCheck:
    """Every outcome's check, and whether training was allowed below the floor."""

    outcomes: dict[str, OutcomeSampleSize]
    small_sample_allowed: bool = False

    @property
    def below_floor(self) -> list[str]:
        return [name for name, check in self.outcomes.items() if check.below_floor]

    @property
    def below_minimum(self) -> list[str]:
        return [name for name, check in self.outcomes.items() if check.below_minimum]

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": "Riley et al. 2020, BMJ 368:m441 (binary outcome)",
            "anticipated_r2_share_of_max": ANTICIPATED_R2_SHARE,
            "min_events_per_parameter": MIN_EVENTS_PER_PARAMETER,
            "small_sample_allowed": self.small_sample_allowed,
            "outcomes": {name: check.as_dict() for name, check in self.outcomes.items()},
        }

    def as_metrics(self) -> dict[str, float]:
        """MLflow metrics such as `violence_training_events_per_parameter`."""
        out: dict[str, float] = {}
        for name, check in self.outcomes.items():
            out[f"{name}_training_clients"] = float(check.clients)
            out[f"{name}_training_events"] = float(check.events)
            out[f"{name}_training_events_per_parameter"] = check.events_per_parameter
            if check.minimum_clients is not None:
                out[f"{name}_riley_minimum_clients"] = float(check.minimum_clients)
        return out


class SampleSizeError(ValueError):
    """Too few events to train on, and small samples were not allowed."""

    def __init__(self, check: SampleSizeCheck) -> None:
        self.check = check
        outcomes = ", ".join(
            f"{name} ({check.outcomes[name].events_per_parameter:.1f})"
            for name in check.below_floor
        )
        super().__init__(
            f"too few training events per candidate predictor parameter for {outcomes}; "
            f"at least {MIN_EVENTS_PER_PARAMETER:.0f} are needed (Vittinghoff & McCulloch "
            "2007). "
            "Add clients, or pass --allow-small-sample to train anyway (the model card "
            "then says so)"
        )


def check_sample_size(
    counts: pd.DataFrame,
    *,
    small_sample_allowed: bool = False,
    exclude_features: Collection[str] = (),
) -> SampleSizeCheck:
    """The check from `label_counts` (clients and events per outcome, summed over parts),
    for the model without `exclude_features`."""
    parameters = candidate_parameters(exclude_features)
    outcomes = {}
    for outcome in OUTCOMES:
        clients = int(counts.loc[outcome, "clients"])
        events = int(counts.loc[outcome, "events"])
        minimum = riley_minimum(parameters, events / clients) if 0 < events < clients else None
        outcomes[outcome] = OutcomeSampleSize(
            outcome=outcome,
            clients=clients,
            events=events,
            parameters=parameters,
            minimum_clients=minimum.minimum if minimum else None,
            minimum_events=math.ceil(minimum.minimum * events / clients) if minimum else None,
            criteria={
                "shrinkage": minimum.shrinkage_criterion,
                "optimism": minimum.optimism_criterion,
                "overall_risk": minimum.overall_risk_criterion,
            }
            if minimum
            else {},
        )
    return SampleSizeCheck(outcomes, small_sample_allowed)


def label_counts(labels: pd.DataFrame) -> pd.DataFrame:
    """Clients with a label and clients with an event, per outcome, from landmark labels
    (as `features.labels.landmark_labels` gives them, indexed by client_id and landmark).

    Counts of disjoint sets of clients add up, so buckets of a Dask run count their own.
    """
    clients = labels.index.get_level_values("client_id").to_numpy()
    rows = []
    for outcome in OUTCOMES:
        label = labels[outcome].to_numpy(dtype=float)
        labelled = ~np.isnan(label)
        rows.append(
            {
                "outcome": outcome,
                "clients": len(np.unique(clients[labelled])),
                "events": len(np.unique(clients[label == 1.0])),
            }
        )
    return pd.DataFrame(rows).set_index("outcome")


def training_label_counts(
    tables: ClinicTables, train_ids: frozenset[str], definitions: OutcomeDefinitions
) -> pd.DataFrame:
    """`label_counts` of the training clients among `tables` (all of a clinic, or one
    bucket of a Dask run), from a landmark row per session 1..5, without building features."""
    sessions = tables.sessions
    keep = sessions["client_id"].isin(train_ids).to_numpy() & (
        sessions["session_number"].to_numpy(dtype=np.int64) <= max(LANDMARKS)
    )
    index = pd.MultiIndex.from_arrays(
        [
            sessions["client_id"].to_numpy(dtype=object)[keep],
            sessions["session_number"].to_numpy(dtype=np.int64)[keep],
        ],
        names=["client_id", "landmark"],
    )
    return label_counts(landmark_labels(tables, index, definitions))
