"""Pick up a new champion without downtime by watching the alias the service loads.

When the alias moves, the holder loads and self-checks the new version beside the live
one and swaps only if it passes; requests keep being answered by the old model meanwhile.
A version that was refused is not retried until the alias moves again, so a bad candidate
costs one load, not one per poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import mlflow
from starlette.concurrency import run_in_threadpool

from models.store import configure_mlflow
from service.model.holder import ModelHolder

logger = logging.getLogger("alliance_risk.model")


class ChampionWatcher:
    def __init__(self, holder: ModelHolder) -> None:
        self.holder = holder
        self._refused: str | None = None

    def _alias_version(self) -> str | None:
        path = self.holder.settings.model_uri.removeprefix("models:/")
        if not self.holder.settings.model_uri.startswith("models:/") or "@" not in path:
            return None
        name, alias = path.split("@", 1)
        configure_mlflow(self.holder.settings)
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)

    def check_once(self) -> bool:
        """Load the alias's version if it is new; True when a new model went live."""
        if not self.holder.ready:
            return self.holder.load()
        version = self._alias_version()
        if version is None or version in (self.holder.get().version, self._refused):
            return False
        logger.info("the alias moved; loading the candidate", extra={"model_version": version})
        if self.holder.load():
            self._refused = None
            return True
        self._refused = version
        return False

    async def run(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await run_in_threadpool(self.check_once)
            except Exception as error:
                logger.error(
                    "could not look for a new champion", extra={"error_type": type(error).__name__}
                )


@asynccontextmanager
async def watch_champion(holder: ModelHolder, interval_seconds: float) -> AsyncIterator[None]:
    """Poll in the background while the service runs; `interval_seconds=0` does nothing."""
    if interval_seconds <= 0:
        yield
        return
    task = asyncio.create_task(ChampionWatcher(holder).run(interval_seconds))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
