"""The telemetry lake and distributed runs: Parquet export of the store, and the batch analyses and simulation
sweeps on a Dask cluster.

- :mod:`suvar.lake.export` writes a utility's telemetry as a Parquet dataset partitioned by utility and month
  (``readings/utility_id=U/month=YYYY-MM/``), with its registry beside it (``registry/utility_id=U/``).
- :mod:`suvar.lake.store` reads that dataset back through the store's own query methods (:class:`LakeStore`), so
  the analyses run unchanged over it.
- :mod:`suvar.lake.jobs` runs the zone balances, night-flow analyses and delivery audits as many small tasks, and
  :mod:`suvar.lake.cluster` gives the Dask client and a ``mapper`` that the simulation sweeps accept.

Layout, idempotence and the scaling notes: ``docs/scale-out.md``.
"""
