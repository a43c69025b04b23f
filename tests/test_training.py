"""Training: honest splits, calibration on unseen clients, determinism, MLflow round trip."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shap
from typer.testing import CliRunner

from alliance_risk_cli import app
from features.registry import FEATURE_NAMES
from models.store import CHAMPION_URI, MODEL_NAME
from training import fitting, plots
from training.evaluation import BootstrapCluster, bootstrap_clusters
from training.fitting import fit_and_evaluate
from training.pipeline import TrainingOutcome
from training.splits import SplitStrategy, split_clients
from training.synthetic import SyntheticCohort

runner = CliRunner()


@pytest.mark.parametrize("strategy", list(SplitStrategy))
def test_a_split_never_shares_a_client(
    small_cohort: SyntheticCohort, strategy: SplitStrategy
) -> None:
    clients = small_cohort.tables.clients
    split = split_clients(clients, strategy=strategy, seed=3)
    assert split.train | split.calibration | split.test == set(clients["client_id"])
    assert not split.train & split.test
    assert not split.calibration & split.test
    assert not split.train & split.calibration


def test_grouped_split_holds_out_whole_therapists(small_cohort: SyntheticCohort) -> None:
    clients = small_cohort.tables.clients
    split = split_clients(clients, strategy=SplitStrategy.THERAPIST, seed=3)
    therapist_of = clients.set_index("client_id")["therapist_id"]
    test_therapists = set(therapist_of[list(split.test)])
    train_therapists = set(therapist_of[list(split.train)])
    assert test_therapists
    assert not test_therapists & train_therapists


def test_temporal_split_tests_on_the_latest_intakes(small_cohort: SyntheticCohort) -> None:
    clients = small_cohort.tables.clients.set_index("client_id")
    split = split_clients(clients.reset_index(), strategy=SplitStrategy.TEMPORAL, seed=3)
    assert (
        clients.loc[list(split.train), "intake_date"].max()
        <= clients.loc[list(split.test), "intake_date"].min()
    )


def test_boosters_never_see_calibration_or_test_clients(
    small_cohort: SyntheticCohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[str]] = []
    original = fitting.fit_booster

    def recording_fit_booster(
        features: np.ndarray, labels: np.ndarray, groups: np.ndarray, **kwargs: object
    ):
        seen.append(set(groups))
        return original(features, labels, groups, **kwargs)

    monkeypatch.setattr(fitting, "fit_booster", recording_fit_booster)
    fitted = fit_and_evaluate(small_cohort.tables, seed=1, n_boot=20)
    assert len(seen) == 2
    for clients in seen:
        assert clients <= fitted.split.train
        assert not clients & (fitted.split.calibration | fitted.split.test)


def test_same_data_and_seed_give_identical_metrics(small_cohort: SyntheticCohort) -> None:
    first = fit_and_evaluate(small_cohort.tables, seed=2, n_boot=20)
    second = fit_and_evaluate(small_cohort.tables, seed=2, n_boot=20)
    for outcome in ("dropout", "violence"):
        assert first.evaluations[outcome].metrics == second.evaluations[outcome].metrics
        assert first.evaluations[outcome].baselines == second.evaluations[outcome].baselines


def test_evaluation_reports_intervals_landmarks_subgroups_baselines_and_oracle(
    trained_model: TrainingOutcome,
) -> None:
    for evaluation in trained_model.fitted.evaluations.values():
        overall = evaluation.metrics["overall"]
        assert set(overall) == {
            "auroc",
            "auprc",
            "brier",
            "calibration_intercept",
            "calibration_slope",
            "ece",
            # what `alliance-risk monitor` judges monitored calibration against
            "observed_expected",
        }
        assert overall["auroc"]["lower"] <= overall["auroc"]["value"] <= overall["auroc"]["upper"]
        assert set(evaluation.metrics["by_landmark"]) == {1, 2, 3, 4, 5}
        attributes = set(evaluation.subgroups.index.get_level_values("attribute"))
        assert attributes == {
            "sex",
            "age_band",
            "interpreter_used",
            "setting",
            "site_id",
            "questionnaire",
            "primary_problem",
        }
        assert set(evaluation.baselines) == {"alliance_only_logistic", "all_features_logistic"}
        for baseline in evaluation.baselines.values():
            assert (
                baseline["model_minus_other_lower"]
                <= baseline["model_minus_other"]
                <= baseline["model_minus_other_upper"]
            )
        assert evaluation.oracle is not None
        assert 0.5 < evaluation.oracle["auroc"] < 1.0


def test_explanations_are_exact_treeshap(trained_model: TrainingOutcome) -> None:
    """LightGBM's pred_contrib and shap.TreeExplainer agree, and rescaling keeps additivity."""
    model = trained_model.fitted.model
    features = trained_model.fitted.evaluations["dropout"].test_features[list(FEATURE_NAMES)]
    rows = features.sample(200, random_state=0).to_numpy(np.float64)
    for outcome in model.outcomes.values():
        ours = outcome.explain(rows)
        reference = shap.TreeExplainer(outcome.booster).shap_values(rows)
        np.testing.assert_allclose(
            ours.contributions / outcome.calibrator.slope, reference, atol=1e-6
        )
        total = ours.base_value + ours.contributions.sum(axis=1)
        np.testing.assert_allclose(total, outcome.calibrator.logit(outcome.margin(rows)), atol=1e-9)


def test_registered_model_round_trips_through_mlflow(trained_model: TrainingOutcome) -> None:
    features = trained_model.fitted.evaluations["dropout"].test_features
    example = features[list(FEATURE_NAMES)].head(50).reset_index(drop=True)
    loaded = mlflow.pyfunc.load_model(CHAMPION_URI)
    from_mlflow = loaded.predict(example)
    in_process = trained_model.fitted.model.score_frame(features.head(50))
    for outcome in ("dropout", "violence"):
        np.testing.assert_array_equal(
            from_mlflow[f"{outcome}_probability"].to_numpy(),
            in_process[f"{outcome}_probability"].to_numpy(),
        )


def test_run_logs_metrics_figures_and_model_card(trained_model: TrainingOutcome) -> None:
    run = mlflow.get_run(trained_model.run_id)
    assert run.data.metrics["dropout_auroc"] == pytest.approx(
        trained_model.fitted.evaluations["dropout"].metrics["overall"]["auroc"]["value"]
    )
    assert run.data.params["data_content_hash"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(trained_model.run_id)}
    assert {"model_card.md", "model_card.html", "evaluation", "figures"} <= artifacts
    card = trained_model.fitted.model.metadata.model_card_markdown
    assert "Trained on synthetic data" in card
    assert "alliance_only_logistic" in card


def test_invalid_data_are_refused_and_nothing_is_registered(
    trained_model: TrainingOutcome, small_cohort_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in small_cohort_dir.glob("*.parquet"):
        (broken / path.name).write_bytes(path.read_bytes())
    sessions = pd.read_parquet(broken / "sessions.parquet")
    sessions.loc[sessions.index[3], "alliance_score"] = 99.0
    sessions.to_parquet(broken / "sessions.parquet", index=False)
    versions_before = len(mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'"))
    result = runner.invoke(app, ["train", "--data", str(broken), "--bootstrap", "20"])
    assert result.exit_code == 1
    assert "alliance_score" in result.output
    assert (
        len(mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")) == versions_before
    )


def test_batch_scoring_writes_one_row_per_client_with_the_notice(
    trained_model: TrainingOutcome,
    small_cohort: SyntheticCohort,
    small_cohort_dir: Path,
    tmp_path: Path,
) -> None:
    """One row per client with a session (clients whose first session lies after the
    export have none); no violence estimate where an incident is already recorded."""
    out = tmp_path / "scores.parquet"
    result = runner.invoke(
        app, ["score", "--data", str(small_cohort_dir), "--out", str(out), "--explain"]
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(out)
    assert scored["client_id"].is_unique
    assert len(scored) == small_cohort.tables.sessions["client_id"].nunique()
    incident = small_cohort.tables.clients.set_index("client_id")["violent_incident_this_episode"]
    recorded = incident.reindex(scored["client_id"]).to_numpy(dtype=bool)
    assert recorded.any()
    assert scored["violence_withheld"].to_numpy().tolist() == recorded.tolist()
    assert scored.loc[recorded, "violence_probability"].isna().all()
    assert scored.loc[~recorded, "violence_probability"].notna().all()
    assert scored["dropout_probability"].notna().all()
    contributions = scored[[f"dropout_shap_{name}" for name in FEATURE_NAMES]].sum(axis=1)
    logit = np.log(scored["dropout_probability"] / (1 - scored["dropout_probability"]))
    np.testing.assert_allclose(scored["dropout_base_value"] + contributions, logit, atol=1e-6)
    metadata = pq.read_schema(out).metadata[b"alliance_risk"].decode()
    assert "synthetic data" in metadata
    assert "violence_withheld" in metadata


def test_a_beeswarm_of_many_rows_draws_a_labelled_sample(
    trained_model: TrainingOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluation = trained_model.fitted.evaluations["dropout"]
    features = evaluation.test_features[list(FEATURE_NAMES)]
    drawn: list[int] = []
    summary_plot = shap.summary_plot

    def counting_summary_plot(contributions: np.ndarray, shown: pd.DataFrame, **kwargs) -> None:
        drawn.append(len(shown))
        summary_plot(contributions, shown, **kwargs)

    monkeypatch.setattr(shap, "summary_plot", counting_summary_plot)
    assert len(features) > 50
    path = plots.beeswarm_figure(
        evaluation.test_contributions, features, "Dropout", tmp_path / "b.png", max_rows=50
    )
    assert drawn == [50]
    assert path.stat().st_size > 0


def test_a_therapist_bootstrap_draws_each_therapist_with_all_their_clients(
    small_cohort: SyntheticCohort,
) -> None:
    clients = small_cohort.tables.clients
    rows = clients["client_id"].to_numpy()[[0, 0, 1, 2]]
    therapist_of = clients.set_index("client_id")["therapist_id"]
    by_therapist = bootstrap_clusters(BootstrapCluster.THERAPIST, rows, clients)
    assert list(by_therapist) == [str(therapist_of[row]) for row in rows]
    assert list(bootstrap_clusters(BootstrapCluster.CLIENT, rows, clients)) == list(rows)
