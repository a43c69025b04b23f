"""After deployment: monitoring notices a clinic unlike the one the model was validated on,
stays quiet on new clients of the same clinic, and recalibration repairs a base-rate shift.

One synthetic clinic is split by intake date: the earlier clients train the model, the
later ones stand for the clients it meets in use (same therapists). The shifted clinic is
the same clinic drawn again with a weaker alliance and more dropout beyond what the
alliance explains.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from homes import private_home
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from alliance_risk_cli import app
from data_schemas.problems import DataValidationError
from data_schemas.tables import ClinicTables, load_clinic_data, write_clinic_data
from models.pyfunc import load_predictor
from models.reference import Distribution
from models.store import MODEL_NAME
from training.monitoring.audit_trail import MIN_RECORDS, estimates_over_time, read_audit_export
from training.monitoring.drift import PSI_ALARM, drift_of, population_stability_index
from training.monitoring.performance import expected_auroc
from training.pipeline import SYNTHETIC_MARKER, SmallSampleWarning, train
from training.synthetic import generate_cohort
from training.synthetic.scenarios import alternate_halves, by_intake, shifted

CLIENTS = 3000
SEED = 21
#: Share of the clinic's clients (earliest intakes) the model is trained on.
DEVELOPMENT_SHARE = 0.6
#: The synthetic episodes end within about 7 months of intake.
FOLLOW_UP_DAYS = 240


@dataclasses.dataclass(frozen=True)
class Clinic:
    """The three folders, and the version trained on `development` (private store)."""

    development: Path
    later: Path
    shifted: Path
    home: Path
    version: str

    @property
    def uri(self) -> str:
        return f"models:/{MODEL_NAME}/{self.version}"


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    """The clinic's folders, and a model trained on `development` in a private store."""
    root = tmp_path_factory.mktemp("clinic")
    same = generate_cohort(CLIENTS, SEED).tables
    moved = generate_cohort(CLIENTS, SEED, shifted(-0.8, 0.8)).tables
    folders = {
        "development": root / "development",
        "later": root / "later",
        "shifted": root / "shifted",
    }
    write_clinic_data(
        by_intake(same, DEVELOPMENT_SHARE, earlier=True),
        folders["development"],
        file_format="parquet",
    )
    write_clinic_data(
        by_intake(same, DEVELOPMENT_SHARE, earlier=False), folders["later"], file_format="parquet"
    )
    write_clinic_data(
        by_intake(moved, DEVELOPMENT_SHARE, earlier=False),
        folders["shifted"],
        file_format="parquet",
    )
    # Synthetic, as `alliance-risk synth` marks its folders: the model must say so.
    (folders["development"] / SYNTHETIC_MARKER).write_text(json.dumps({"synthetic": True}))
    with private_home(root / "home"):
        with pytest.warns(SmallSampleWarning, match="minimum sample size"):
            outcome = train(folders["development"], seed=0, n_boot=20, allow_small_sample=True)
        yield Clinic(**folders, home=root / "home", version=outcome.version)


def _monitor(
    clinic: Clinic, data: Path, out: Path, *options: str, uri: str | None = None
) -> tuple[int, dict]:
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--data",
            str(data),
            "--model-uri",
            uri or clinic.uri,
            "--out",
            str(out),
            "--bootstrap",
            "50",
            "--follow-up-days",
            str(FOLLOW_UP_DAYS),
            *options,
        ],
    )
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(out.with_suffix(".json").read_text())


def test_new_clients_of_the_same_clinic_raise_no_alarm(clinic: Clinic, tmp_path: Path) -> None:
    code, summary = _monitor(clinic, clinic.later, tmp_path / "later.html")
    assert [a["message"] for a in summary["alarms"]] == []
    assert code == 0
    assert summary["performance"], "the later clients' outcomes were measured"
    runs = mlflow.search_runs(experiment_names=["alliance-risk-monitoring"], output_format="list")
    logged = [run for run in runs if run.data.tags["model_version"] == clinic.version]
    assert logged, "the run is tagged with the monitored version"
    assert all(run.info.artifact_uri.startswith(clinic.home.as_uri()) for run in logged)
    assert max(d["value"] for d in summary["feature_drift"] if d["statistic"] == "PSI") < PSI_ALARM


def test_a_shifted_clinic_raises_the_alarm_and_names_the_features(
    clinic: Clinic, tmp_path: Path
) -> None:
    code, summary = _monitor(clinic, clinic.shifted, tmp_path / "shifted.html")
    assert code == 3
    drifted = {a["name"] for a in summary["alarms"] if a["kind"] == "input drift"}
    assert {"alliance_z_first", "alliance_z_mean"} <= drifted
    assert not drifted & {"age_years", "sex", "setting"}, "only what changed is named"
    calibration = [
        a
        for a in summary["alarms"]
        if a["kind"] == "performance" and a["scope"] == "all rows" and a["outcome"] == "dropout"
    ]
    assert [a["metric"] for a in calibration] == ["observed_expected"]
    assert calibration[0]["lower"] > 1.25
    page = (tmp_path / "shifted.html").read_text()
    assert "alarm" in page
    assert "<svg" in page
    assert "Synthetic data" in page


def test_without_outcomes_performance_is_estimated_not_measured(
    clinic: Clinic, tmp_path: Path
) -> None:
    tables = load_clinic_data(clinic.later)
    folder = tmp_path / "no_outcomes"
    clients = tables.clients.drop(
        columns=["episode_end_date", "episode_end_reason", "first_violence_date"]
    )
    write_clinic_data(ClinicTables(clients, tables.therapists, tables.sessions), folder)
    code, summary = _monitor(clinic, folder, tmp_path / "bare.html")
    assert code == 0
    assert summary["performance"] == {}
    assert 0.5 < summary["expected_auroc"]["dropout"]["expected"] < 1.0


def test_since_keeps_the_recent_rows_and_a_date_after_the_data_is_refused(
    clinic: Clinic, tmp_path: Path
) -> None:
    everything = _monitor(clinic, clinic.later, tmp_path / "all.html")[1]
    tables = load_clinic_data(clinic.later)
    middle = tables.sessions["session_date"].quantile(0.5).date()
    recent = _monitor(clinic, clinic.later, tmp_path / "recent.html", "--since", str(middle))[1]
    assert 0 < recent["rows"] < everything["rows"]
    assert recent["since"] == middle.isoformat()
    after = CliRunner().invoke(
        app,
        [
            "monitor",
            "--data",
            str(clinic.later),
            "--model-uri",
            clinic.uri,
            "--out",
            str(tmp_path / "none.html"),
            "--since",
            "2099-01-01",
        ],
    )
    assert after.exit_code == 1
    assert "no landmark rows" in after.output
    assert not (tmp_path / "none.html").exists()


def test_recalibration_repairs_the_base_rate_and_keeps_rankings_and_explanations(
    clinic: Clinic, tmp_path: Path
) -> None:
    """Fitted on half of the shifted clinic's later clients, judged on the other half."""
    halves = alternate_halves(load_clinic_data(clinic.shifted))
    for name, half in zip(("fit", "check"), halves, strict=True):
        write_clinic_data(half, tmp_path / name)
    parent_version = clinic.version
    result = CliRunner().invoke(
        app,
        [
            "recalibrate",
            parent_version,
            "--data",
            str(tmp_path / "fit"),
            "--bootstrap",
            "50",
            "--follow-up-days",
            str(FOLLOW_UP_DAYS),
        ],
    )
    assert result.exit_code == 0, result.output
    version = result.output.split(f"registered {MODEL_NAME} version ")[1].split()[0]
    updated = load_predictor(f"models:/{MODEL_NAME}/{version}")

    figures = {
        uri: _monitor(clinic, tmp_path / "check", tmp_path / f"{name}.html", uri=uri)[1][
            "performance"
        ]["dropout"]["figures"]["overall"]
        for name, uri in (("parent", clinic.uri), ("updated", f"models:/{MODEL_NAME}/{version}"))
    }
    before, after = figures[clinic.uri], figures[f"models:/{MODEL_NAME}/{version}"]
    assert before["observed_expected"]["lower"] > 1.25, "the shift is there before"
    assert after["observed_expected"]["lower"] <= 1.0 <= after["observed_expected"]["upper"]
    assert after["auroc"]["value"] == pytest.approx(before["auroc"]["value"], abs=1e-12)

    rows = updated.features.transform(load_clinic_data(tmp_path / "check"))
    scored = updated.score_features(rows, explain=True)["dropout"]
    logit = scored[1].base_value + scored[1].contributions.sum(axis=1)
    np.testing.assert_allclose(expit(logit), scored[0].probability, rtol=1e-9)
    card = updated.metadata.model_card_markdown
    assert card.startswith(f"# Model card: {MODEL_NAME} version {version}\n")
    assert f"version {parent_version} recalibrated (intercept" in card
    assert f"`{MODEL_NAME}` version {parent_version}" not in card, "no stale version number"
    assert updated.metadata.training_summary["recalibration"]["parent_version"] == parent_version


def test_population_stability_index_is_zero_for_equal_shares_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = Distribution.of_numbers(rng.normal(0, 1, 20_000))
    same = drift_of("x", "x", reference, rng.normal(0, 1, 20_000))
    moved = drift_of("x", "x", reference, rng.normal(0.8, 1, 20_000))
    assert same.value < 0.01
    assert same.status == "ok"
    assert moved.value > PSI_ALARM
    assert moved.status == "alarm"
    assert population_stability_index(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0


def test_expected_auroc_matches_the_mean_auroc_of_outcomes_drawn_from_the_probabilities() -> None:
    rng = np.random.default_rng(1)
    p = expit(rng.normal(-1.5, 1.0, 2000))
    drawn = [roc_auc_score(rng.random(2000) < p, p) for _ in range(300)]
    assert expected_auroc(p) == pytest.approx(np.mean(drawn), abs=0.005)


def test_released_estimates_are_aggregated_without_identifiers_and_small_groups_pooled() -> None:
    rows = [
        {
            "week": "2026-W48",
            "caller": "ehr",
            "model_version": "3",
            "outcome": "dropout",
            "probability": p,
            "band": "low",
        }
        for p in np.linspace(0.05, 0.2, 10)
    ] + [
        {
            "week": "2026-W48",
            "caller": "rare",
            "model_version": "3",
            "outcome": "dropout",
            "probability": 0.4,
            "band": "high",
        }
    ]
    table = estimates_over_time(pd.DataFrame(rows))
    assert set(table["caller"]) == {"ehr", f"(fewer than {MIN_RECORDS})"}
    ehr = table[table["caller"] == "ehr"].iloc[0]
    assert ehr["estimates"] == 10
    assert ehr["share_low"] == 1.0
    assert not {"client_hash", "request_id"} & set(table.columns)


def test_an_audit_export_is_read_per_estimate_and_a_bad_line_is_named(tmp_path: Path) -> None:
    record = {
        "recorded_at": "2026-11-30T10:00:00.000+00:00",
        "request_id": "r1",
        "caller": "ehr",
        "endpoint": "/v1/predictions",
        "status": 200,
        "model_version": "3",
        "client_hash": "h1",
        "item_index": None,
        "item_status": None,
        "outcomes": {
            "dropout": {"probability": 0.2, "band": "moderate"},
            "violence": {"probability": None, "band": None},
        },
    }
    refused = {**record, "status": 422, "outcomes": None}
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (record, refused)) + "\n")
    released = read_audit_export(path)
    assert released.to_dict("records") == [
        {
            "week": "2026-W49",  # 30 November 2026 is a Monday
            "caller": "ehr",
            "model_version": "3",
            "outcome": "dropout",
            "probability": 0.2,
            "band": "moderate",
        }
    ]
    path.write_text(json.dumps(record) + "\nnot json\n")
    with pytest.raises(DataValidationError) as error:
        read_audit_export(path)
    assert [(p.table, p.row) for p in error.value.problems] == [("audit.jsonl", 2)]
