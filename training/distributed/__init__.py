"""Training on a Dask cluster, for data that outgrow one machine (the `DaskCluster` back-end).

The cluster does the work that grows with sessions; the driver keeps what grows only with
clients and what must be global to stay identical to a single-machine run:

- Reading (`data_schemas.buckets`, shared with batch scoring): the three tables as Dask
  DataFrames (one file or a partitioned Parquet dataset per table). Clients and sessions are shuffled into buckets by a stable hash of the
  client id, so every client's rows (and every session's client) sit in one partition.
- Validation: the contract's own `parse_and_check` runs on each bucket with the whole
  (small) therapists table. Every rule is per client or per reference to a therapist, so a
  bucket can be checked on its own; a duplicate client id hashes into one bucket and is
  still found. Problems carry the row numbers of the original files.
- Features: the same `LandmarkFeatureBuilder`, on each bucket. The out-of-fold therapist
  dropout rate comes from (therapist, fold) counts that each bucket makes of its own
  clients and the driver sums (`fold_dropout_counts`), so no training row sees its own
  outcome. The fold of a client is the single-machine one (a seeded permutation of the
  sorted training ids), which is why the driver holds the clients table: one row per
  client, never the sessions.
- Fitting: data-parallel LightGBM on the workers' training rows (`boosting`: each worker
  joins LightGBM's network with the rows it holds); the booster that comes back is
  calibrated, explained and registered exactly as a single-machine booster, so the
  registered model is the same artifact and serves unchanged.
"""
