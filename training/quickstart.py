"""What `make run` needs before it can serve: a champion, trained on a synthetic cohort if
the registry has none. The service then serves it like any other champion.
"""

from __future__ import annotations

from collections.abc import Callable

from models.store import StoreSettings, configure_mlflow
from training.pipeline import train
from training.promotion import current_champion, promote
from training.synthetic import generate_cohort, write_cohort

#: The default cohort: big enough for stable bands and metrics, a minute to train on two cores.
DEFAULT_CLIENTS = 20_000
DEFAULT_COHORT_SEED = 7


def ensure_default_champion(
    store: StoreSettings, *, clients: int = DEFAULT_CLIENTS, say: Callable[[str], None] = print
) -> str | None:
    """Train and promote a model on a synthetic cohort unless a champion exists.

    The cohort is written once to `<home>/synthetic-cohort` and reused. Returns the version
    made champion, or `None` when there already was one.
    """
    configure_mlflow(store)
    if current_champion() is not None:
        return None
    cohort = store.home_directory / "synthetic-cohort"
    if not (cohort / "parameters.json").exists():
        say(f"no champion model yet: generating {clients} synthetic clients in {cohort}")
        write_cohort(generate_cohort(clients, DEFAULT_COHORT_SEED), cohort, file_format="parquet")
    say("training the default model (about a minute on two cores)")
    outcome = train(cohort, store=store, seed=0)
    promote(outcome.version, store=store)
    return outcome.version
