"""Draw therapists and clients: what the clinic records about them and what stays hidden.

The observed attributes become the therapists table and the client columns of the
clients table; the hidden ones (therapist effects, alliance and anxiety levels, planned
episode length) are folded into `ClientLatents`, which drive the session chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_schemas.ranges import ADULT_AGE_YEARS, PrimaryProblem, Setting, Sex
from training.synthetic.dynamics import ClientLatents
from training.synthetic.parameters import CohortParameters, Mix


@dataclass(frozen=True)
class Population:
    """Therapists and clients before any session has happened."""

    therapists: pd.DataFrame  # the therapists table, typed per the contract
    clients: pd.DataFrame  # the clients table without its outcome columns
    instrument: np.ndarray  # alliance instrument code used for each client
    client_rates_alliance: np.ndarray  # True: the client fills in the alliance questionnaire
    latents: ClientLatents


def _categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category index per row of a (rows, categories) probability matrix."""
    cumulative = probabilities.cumsum(axis=1)
    cumulative[:, -1] = 1.0
    return (rng.random(len(probabilities))[:, None] > cumulative).sum(axis=1)


def _draw(rng: np.random.Generator, mix: Mix, size: int) -> np.ndarray:
    """Draw category labels from a mix."""
    labels = np.array([str(label) for label, _ in mix], dtype=object)
    shares = np.array([share for _, share in mix])
    return labels[_categorical(rng, np.tile(shares, (size, 1)))]


def _lookup(mix: Mix, labels: np.ndarray, default: float = 0.0) -> np.ndarray:
    """The value a mix assigns to each label (`default` for labels it does not list)."""
    table = {str(label): value for label, value in mix}
    return pd.Series(labels).map(table).fillna(default).to_numpy(dtype=float)


def _identifiers(prefix: str, numbers: np.ndarray, width: int) -> pd.arrays.StringArray:
    """Identifiers such as C000001, built without a Python loop over clients."""
    digits = np.char.zfill(numbers.astype(str), width)
    return pd.array(np.char.add(prefix, digits).astype(object), dtype="string")


def _therapists(
    rng: np.random.Generator, count: int, parameters: CohortParameters
) -> tuple[pd.DataFrame, np.ndarray]:
    """The therapists table and each therapist's site index."""
    p = parameters.therapists
    profession = _draw(rng, p.profession_mix, count)
    orientation = _draw(rng, p.orientation_mix, count)
    trainee = profession == "trainee"
    experienced = p.experienced_min_years + rng.gamma(
        p.experience_gamma_shape, p.experience_gamma_scale, count
    )
    years = np.where(trainee, rng.uniform(0.0, p.trainee_max_years, count), experienced)
    years = np.round(np.minimum(years, p.max_years), 1)
    caseload = p.caseload_base + rng.poisson(p.caseload_poisson_mean, count)
    site = rng.permutation(np.arange(count) % parameters.population.sites)
    table = pd.DataFrame(
        {
            "therapist_id": _identifiers("T", np.arange(1, count + 1), 4),
            "years_experience": pd.array(years, dtype="Float64"),
            "profession": pd.array(profession, dtype="string"),
            "orientation": pd.array(orientation, dtype="string"),
            "caseload": pd.array(caseload, dtype="Int64"),
        }
    )
    return table, site


def _ages(rng: np.random.Generator, count: int, parameters: CohortParameters) -> np.ndarray:
    p = parameters.population
    child = rng.random(count) < p.child_share
    child_age = rng.integers(p.child_age_range[0], p.child_age_range[1] + 1, count)
    adult_age = np.clip(
        np.round(rng.normal(p.adult_age_mean, p.adult_age_sd, count)), *p.adult_age_range
    )
    return np.where(child, child_age, adult_age).astype(np.int64)


def _instruments(
    rng: np.random.Generator, site: np.ndarray, child: np.ndarray, parameters: CohortParameters
) -> np.ndarray:
    """TASC-R for children; adults mostly get their site's instrument, else the other one."""
    p = parameters.population
    site_uses_srs = site >= p.sites - p.srs_sites
    uses_srs = site_uses_srs ^ (rng.random(len(site)) >= p.site_instrument_share)
    adult = np.where(uses_srs, "SRS", "WAI-SR")
    return np.where(child, "TASC-R", adult).astype(object)


def draw_population(
    rng: np.random.Generator, clients: int, parameters: CohortParameters
) -> Population:
    """Draw therapists, clients and their hidden quantities."""
    pop = parameters.population
    ther = parameters.therapists
    therapist_count = max(ther.min_therapists, round(clients / ther.clients_per_therapist))
    therapists, therapist_site = _therapists(rng, therapist_count, parameters)
    caseload = therapists["caseload"].to_numpy(dtype=float)
    therapist = rng.choice(therapist_count, size=clients, p=caseload / caseload.sum())
    site = therapist_site[therapist]

    age = _ages(rng, clients, parameters)
    child = age < ADULT_AGE_YEARS
    sex = _draw(rng, pop.sex_mix, clients)
    interpreter = rng.random(clients) < pop.interpreter_share
    prior = rng.poisson(pop.prior_episodes_mean, clients)
    setting = _draw(rng, pop.setting_mix, clients)
    problem_settings = pd.Index([str(s) for s, _ in pop.problem_mix_by_setting])
    problem_shares = np.array([shares for _, shares in pop.problem_mix_by_setting])
    problem_labels = np.array([str(problem) for problem in PrimaryProblem], dtype=object)
    setting_row = problem_settings.get_indexer(setting)
    problem = problem_labels[_categorical(rng, problem_shares[setting_row])]
    history = rng.random(clients) < _lookup(pop.history_of_violence_by_setting, setting)
    substance_share = np.where(
        problem == PrimaryProblem.SUBSTANCE,
        pop.substance_misuse_if_substance_problem,
        pop.substance_misuse_otherwise,
    )
    substance = rng.random(clients) < substance_share
    intake = np.datetime64(pop.intake_start, "D") + rng.integers(0, pop.intake_span_days, clients)

    instrument = _instruments(rng, site, child, parameters)
    client_rates = rng.random(clients) < parameters.alliance.client_rater_share

    alliance_effect = rng.normal(0.0, ther.alliance_effect_sd, therapist_count)
    dropout_effect = rng.normal(0.0, ther.dropout_effect_sd, therapist_count)
    site_dropout_effect = rng.normal(0.0, parameters.dropout.site_effect_sd, pop.sites)
    years = therapists["years_experience"].to_numpy(dtype=float)[therapist]
    trainee = (therapists["profession"] == "trainee").to_numpy(dtype=bool)[therapist]

    anxiety = parameters.anxiety
    anxiety_level = rng.normal(0.0, 1.0, clients) + _lookup(anxiety.problem_shift, problem)
    al = parameters.alliance
    alliance_level = (
        alliance_effect[therapist]
        + ther.alliance_per_year_experience * (years - ther.reference_years)
        + al.interpreter_shift * interpreter
        + _lookup(al.problem_shift, problem)
        + al.per_anxiety_sd * anxiety_level
        + rng.normal(0.0, al.client_sd, clients)
        + al.level_shift
    )
    low, high = parameters.attendance.planned_sessions_range
    planned = rng.integers(low, high + 1, clients)

    latents = ClientLatents(
        alliance_level=alliance_level,
        anxiety_level=anxiety_level,
        planned_sessions=planned,
        miss_offset=_miss_offset(setting, substance, parameters),
        dropout_offset=_dropout_offset(
            parameters,
            therapist_effect=dropout_effect[therapist] + site_dropout_effect[site],
            years=years,
            trainee=trainee,
            interpreter=interpreter,
            age=age,
        ),
        violence_offset=_violence_offset(
            parameters,
            setting=setting,
            history=history,
            substance=substance,
            sex=sex,
            problem=problem,
            age=age,
            alliance_level=alliance_level,
        ),
    )
    client_table = pd.DataFrame(
        {
            "client_id": _identifiers("C", np.arange(1, clients + 1), 6),
            "therapist_id": therapists["therapist_id"].array[therapist],
            "site_id": _identifiers("S", site + 1, 1),
            "intake_date": pd.to_datetime(intake).astype("datetime64[ns]"),
            "age_years": pd.array(age, dtype="Int64"),
            "sex": pd.array(sex, dtype="string"),
            "interpreter_used": pd.array(interpreter, dtype="boolean"),
            "prior_episodes": pd.array(prior, dtype="Int64"),
            "history_of_violence": pd.array(history, dtype="boolean"),
            "substance_misuse": pd.array(substance, dtype="boolean"),
            "primary_problem": pd.array(problem, dtype="string"),
            "setting": pd.array(setting, dtype="string"),
        }
    )
    return Population(therapists, client_table, instrument, client_rates, latents)


def _miss_offset(
    setting: np.ndarray, substance: np.ndarray, parameters: CohortParameters
) -> np.ndarray:
    att = parameters.attendance
    return (
        att.miss_intercept
        + att.miss_substance_misuse * substance
        + att.miss_inpatient * (setting == Setting.INPATIENT)
        + att.miss_day_clinic * (setting == Setting.DAY_CLINIC)
    )


def _adult_decades(age: np.ndarray, reference_age: float) -> np.ndarray:
    """Decades above the reference age for adults; 0 for children (they have their own term)."""
    return np.where(age >= ADULT_AGE_YEARS, (age - reference_age) / 10.0, 0.0)


def _dropout_offset(
    parameters: CohortParameters,
    *,
    therapist_effect: np.ndarray,  # therapist's and site's hidden effects
    years: np.ndarray,
    trainee: np.ndarray,
    interpreter: np.ndarray,
    age: np.ndarray,
) -> np.ndarray:
    d = parameters.dropout
    ther = parameters.therapists
    return (
        d.intercept
        + therapist_effect
        + ther.dropout_log_odds_per_year_experience * (years - ther.reference_years)
        + ther.trainee_dropout_log_odds * trainee
        + d.interpreter * interpreter
        + d.child * (age < ADULT_AGE_YEARS)
        + d.per_adult_decade * _adult_decades(age, d.reference_age)
    )


def _violence_offset(
    parameters: CohortParameters,
    *,
    setting: np.ndarray,
    history: np.ndarray,
    substance: np.ndarray,
    sex: np.ndarray,
    problem: np.ndarray,
    age: np.ndarray,
    alliance_level: np.ndarray,
) -> np.ndarray:
    v = parameters.violence
    return (
        _lookup(v.intercept_by_setting, setting)
        + v.history_of_violence * history
        + v.substance_misuse * substance
        + v.male * (sex == Sex.MALE)
        + v.psychosis * (problem == PrimaryProblem.PSYCHOSIS)
        + v.child * (age < ADULT_AGE_YEARS)
        + v.per_adult_decade * _adult_decades(age, v.reference_age)
        + v.per_alliance_sd * alliance_level
    )
