"""The feature arithmetic: every landmark feature from `ClientArrays`, vectorised in numpy.

This is the only place a feature value is computed. The batch transform calls it once per
landmark for all clients whose session k exists; the API calls it for one client. Only
session columns 1..k are read, which is what makes the features leakage-free by
construction: nothing after session k can reach a landmark-k row.
"""

from __future__ import annotations

import numpy as np

from features.alliance_norms import AllianceNorms
from features.arrays import ATTRIBUTE_FEATURES, NO_INSTRUMENT, ClientArrays
from features.registry import FEATURE_NAMES


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (without a warning)."""
    out = np.full(np.shape(numerator), np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _per_instrument(table: np.ndarray, instrument: np.ndarray) -> np.ndarray:
    """`table[code]` at every cell of `instrument` (NaN where no instrument is named)."""
    padded = np.append(table, np.nan)  # NO_INSTRUMENT (-1) reads the NaN at the end
    return padded[np.where(instrument == NO_INSTRUMENT, -1, instrument)]


def _standardised(score: np.ndarray, instrument: np.ndarray, norms: AllianceNorms) -> np.ndarray:
    """Each rating in SDs from its questionnaire's usual first rating (NaN without a norm)."""
    mean, sd, _, _ = norms.arrays()
    return (score - _per_instrument(mean, instrument)) / _per_instrument(sd, instrument)


def _first_last(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: first and last recorded value, how many are recorded, and where the last is."""
    recorded = ~np.isnan(values)
    rows = np.arange(values.shape[0])
    first_at = recorded.argmax(axis=1)
    last_at = values.shape[1] - 1 - recorded[:, ::-1].argmax(axis=1)
    # With nothing recorded both positions point at a NaN cell, so first/last come out NaN.
    return values[rows, first_at], values[rows, last_at], recorded.sum(axis=1), last_at


def _mean(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    return _divide(np.where(np.isnan(values), 0.0, values).sum(axis=1), count)


def _slope(values: np.ndarray, count: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Least-squares slope against session number 1..k over the recorded cells."""
    recorded = ~np.isnan(values)
    session = np.arange(1.0, values.shape[1] + 1.0)  # broadcast against each row
    session_mean = _divide(np.where(recorded, session, 0.0).sum(axis=1), count)
    d_session = np.where(recorded, session - session_mean[:, None], 0.0)
    d_value = np.where(recorded, values - mean[:, None], 0.0)
    # One rating gives d_session == 0 everywhere, hence a zero denominator and NaN.
    return _divide((d_session * d_value).sum(axis=1), (d_session * d_session).sum(axis=1))


def _falls(z: np.ndarray, instrument: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each session j >= 1: the fall from the previous rating (-inf when j or no earlier
    session is rated), whether both ratings are on one questionnaire, and j's position."""
    k = z.shape[1]
    rated = ~np.isnan(z)
    position = np.arange(k)
    # Where the previous rating (before j) sits, -1 if none.
    latest_rated = np.maximum.accumulate(np.where(rated, position, -1), axis=1)
    previous_at = latest_rated[:, :-1]
    previous = np.take_along_axis(z, np.maximum(previous_at, 0), axis=1)
    previous_instrument = np.take_along_axis(instrument, np.maximum(previous_at, 0), axis=1)
    follows = rated[:, 1:] & (previous_at >= 0)
    falls = np.where(follows, previous - z[:, 1:], -np.inf)
    return falls, follows & (previous_instrument == instrument[:, 1:]), position


def _rupture(
    z: np.ndarray, instrument: np.ndarray, count: np.ndarray, last: np.ndarray, change: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest fall between consecutive ratings, the recovery since it, and whether any fall
    on one questionnaire exceeds its reliable change (all in SDs)."""
    n, k = z.shape
    if k < 2:
        return np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    falls, same_questionnaire, position = _falls(z, instrument)
    largest = falls.max(axis=1)
    fall_ends_at = falls.argmax(axis=1) + 1
    after_fall = ~np.isnan(z) & (position >= fall_ends_at[:, None])
    low_after_fall = np.where(after_fall, z, np.inf).min(axis=1)
    fell = largest > 0
    two_ratings = count >= 2
    drop = np.where(two_ratings, np.where(fell, largest, 0.0), np.nan)
    recovery = np.where(two_ratings, np.where(fell, last - low_after_fall, 0.0), np.nan)
    reliable = same_questionnaire & (falls >= _per_instrument(change, instrument[:, 1:]))
    return drop, recovery, np.where(two_ratings, reliable.any(axis=1), np.nan)


def landmark_feature_matrix(
    arrays: ClientArrays, therapist_dropout_rate: np.ndarray, landmark: int, norms: AllianceNorms
) -> np.ndarray:
    """Feature rows (columns in `FEATURE_NAMES` order) at landmark k from sessions 1..k.

    Every client in `arrays` must have a session k; the caller selects those rows.
    """
    k = landmark
    n = arrays.n_sessions.shape[0]
    score = arrays.alliance_score[:, :k]
    instrument = arrays.alliance_instrument[:, :k]
    z = _standardised(score, instrument, norms)
    rows = np.arange(n)

    first, last, n_z, _ = _first_last(z)
    mean = _mean(z, n_z)
    lowest = np.where(np.isnan(z), np.inf, z).min(axis=1)
    _, _, change, alert = norms.arrays()
    largest_drop, recovery, reliable_fall = _rupture(z, instrument, n_z, last, change)
    _, score_last, n_rated, rated_last_at = _first_last(score)
    instrument_last = instrument[rows, rated_last_at]
    therapist_rated_last = arrays.rated_by_therapist[rows, rated_last_at].astype(np.float64)
    none_rated = n_rated == 0
    alert_at = np.where(none_rated, np.nan, _per_instrument(alert, instrument_last))

    gad7_first, gad7_last, n_gad7, _ = _first_last(arrays.gad7[:, :k])
    distress = arrays.distress[:, :k]
    distress_first, distress_last, n_distress, _ = _first_last(distress)
    missed = ~arrays.attended[:, :k]

    columns = {
        "landmark": np.full(n, float(k)),
        "alliance_z_first": first,
        "alliance_z_last": last,
        "alliance_z_mean": mean,
        "alliance_z_min": np.where(n_z == 0, np.nan, lowest),
        "alliance_z_slope": _slope(z, n_z, mean),
        "alliance_largest_drop": largest_drop,
        "alliance_recovery_since_drop": recovery,
        "alliance_reliable_fall": reliable_fall,
        "alliance_alert": np.where(np.isnan(alert_at), np.nan, score_last <= alert_at),
        "alliance_n_rated": n_rated.astype(np.float64),
        "alliance_instrument_last": np.where(none_rated, np.nan, instrument_last),
        "alliance_rated_by_therapist_last": np.where(none_rated, np.nan, therapist_rated_last),
        "missed_sessions": missed.sum(axis=1).astype(np.float64),
        "latest_session_missed": missed[:, k - 1].astype(np.float64),
        "days_since_intake": arrays.days_since_intake[:, k - 1],
        "gad7_first": gad7_first,
        "gad7_last": gad7_last,
        "gad7_change": np.where(n_gad7 >= 2, gad7_last - gad7_first, np.nan),
        "pre_session_distress_first": distress_first,
        "pre_session_distress_last": distress_last,
        "pre_session_distress_mean": _mean(distress, n_distress),
        "therapist_dropout_rate_oof": therapist_dropout_rate,
    }
    for j, name in enumerate(ATTRIBUTE_FEATURES):
        columns[name] = arrays.attributes[:, j]
    # Filled column by column: for the API's one row, cheaper than `np.column_stack`,
    # which first turns each of the 35 vectors into a 2-D array.
    matrix = np.empty((n, len(FEATURE_NAMES)))
    for j, name in enumerate(FEATURE_NAMES):
        matrix[:, j] = columns[name]
    return matrix
