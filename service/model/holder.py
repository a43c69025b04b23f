"""Loads the served model once, checks it, and says why when it cannot serve.

Loading never raises into the server: a missing alias, an unreachable tracking server or
a corrupted artifact leave the holder not ready, with a reason `/readyz` reports, so the
process stays up (no crash loop) and recovers when the cause is fixed and it reloads.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from dataclasses import dataclass
from functools import cached_property

import mlflow
from mlflow.exceptions import MlflowException

from data_schemas.examples import EXAMPLE_HISTORY
from data_schemas.records import ClientHistory
from models.bands import BandThresholds, LandmarkBands
from models.predictor import AllianceRiskModel
from models.pyfunc import load_predictor
from models.store import configure_mlflow
from service.settings import Settings, limit_mlflow_http_retries

logger = logging.getLogger("alliance_risk.model")


@dataclass(frozen=True)
class ServedModel:
    """A loaded, self-checked model and its registry identity."""

    predictor: AllianceRiskModel
    name: str
    version: str | None
    alias: str | None
    uri: str
    #: When it was loaded (Unix time) and how long loading and the self-check took.
    loaded_at: float = 0.0
    load_seconds: float = 0.0

    @cached_property
    def typical_values(self) -> dict[str, float]:
        """The values explanations are read against (`AllianceRiskModel.typical_values`),
        taken from the model's reference profile once, not on every request."""
        return self.predictor.typical_values()


class ModelNotReadyError(RuntimeError):
    """No model is loaded; carries the reason shown by /readyz."""


def _identity(uri: str) -> tuple[str, str | None, str | None]:
    """Name, version and alias of a `models:/` URI, resolving an alias to its version."""
    if not uri.startswith("models:/"):
        return uri, None, None
    path = uri.removeprefix("models:/")
    if "@" in path:
        name, alias = path.split("@", 1)
        version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
        return name, str(version), alias
    name, _, version = path.partition("/")
    return name, version or None, None


def _freeze_long_lived() -> None:
    """Take everything alive after a load out of the garbage collector's full passes.

    A loaded service holds about 430,000 long-lived objects (libraries and the model). A
    full collection walked them all and stalled every request in flight for 100-200 ms:
    the CDS Hooks p99 at one connection fell from 111 ms to 10-13 ms once they were frozen.
    Unfreezing first lets a replaced model's reference cycles be collected after a reload.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def self_check(predictor: AllianceRiskModel) -> None:
    """Predict the built-in example and check the answer is a well-formed explanation."""
    prediction = predictor.predict_history(ClientHistory.model_validate(EXAMPLE_HISTORY))
    for outcome in prediction.outcomes.values():
        if not 0.0 < outcome.probability < 1.0:
            raise ValueError(f"self-check: {outcome.outcome} probability outside (0, 1)")
        total = outcome.base_value + float(outcome.contributions.sum())
        if not math.isclose(total, outcome.logit, abs_tol=1e-6):
            raise ValueError(f"self-check: {outcome.outcome} explanation does not add up")


def apply_band_overrides(predictor: AllianceRiskModel, settings: Settings) -> None:
    for outcome, override in settings.band_thresholds.items():
        if outcome not in predictor.outcomes:
            raise ValueError(f"band override for unknown outcome {outcome!r}")
        predictor.outcomes[outcome].thresholds = LandmarkBands.fixed(
            BandThresholds(override.moderate, override.high), predictor.landmarks
        )


class ModelHolder:
    """Holds the live model; replaced as a whole so a request never sees half a model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._served: ServedModel | None = None
        self._reason = "the model has not been loaded yet"
        self.last_failure: str | None = None
        self._lock = threading.Lock()

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def ready(self) -> bool:
        return self._served is not None

    def get(self) -> ServedModel:
        served = self._served
        if served is None:
            raise ModelNotReadyError(self._reason)
        return served

    def load(self) -> bool:
        """Load and self-check the configured model; keep the old one if the new one fails."""
        with self._lock:
            started = time.perf_counter()
            try:
                limit_mlflow_http_retries()
                configure_mlflow(self.settings)
                name, version, alias = _identity(self.settings.model_uri)
                uri = f"models:/{name}/{version}" if version else self.settings.model_uri
                predictor = load_predictor(uri)
                apply_band_overrides(predictor, self.settings)
                self_check(predictor)
            except MlflowException as error:
                first_line = str(error).splitlines()[0][:300] if str(error) else ""
                return self._fail(
                    f"model {self.settings.model_uri} could not be loaded from the "
                    f"registry ({error.error_code}: {first_line})"
                )
            except Exception as error:
                return self._fail(
                    f"model {self.settings.model_uri} failed to load or pass its "
                    f"self-check ({type(error).__name__}: {error})"
                )
            self._served = ServedModel(
                predictor,
                name,
                version,
                alias,
                self.settings.model_uri,
                loaded_at=time.time(),
                load_seconds=time.perf_counter() - started,
            )
            self._reason = "ready"
            _freeze_long_lived()
            logger.info("model loaded", extra={"model_version": version, "model_alias": alias})
            return True

    def _fail(self, reason: str) -> bool:
        self.last_failure = reason
        if self._served is not None:
            logger.error("a new model was refused; the current one keeps serving: %s", reason)
            return False
        self._reason = reason
        logger.error("not ready: %s", reason)
        return False
