"""Watching a deployed model: input drift, performance on a clinic's own outcomes, the
audit trail's estimates over time (`alliance-risk monitor`), and local recalibration
(`alliance-risk recalibrate`, in `training.recalibration`)."""
