"""Dask (``dask.distributed``) clients and the ``mapper`` that Suvar's sweeps and lake jobs accept.

A *mapper* is any ``mapper(fn, items) -> list`` returning ``[fn(item) for item in items]`` in order.
:func:`serial_map` is the single-process one; :func:`dask_mapper` submits one Dask task per item, reports
progress as tasks finish, and gathers the results in the order of ``items``. Task functions are module-level
functions (or ``functools.partial`` of them), so any worker with Suvar installed can run them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Mapper = Callable[[Callable[[Any], Any], Sequence[Any]], list]


def serial_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list:
    """``[fn(item) for item in items]``: the single-process mapper."""
    return [fn(item) for item in items]


def stderr_progress(label: str, every_s: float = 2.0) -> Callable[[int, int], None]:
    """A progress callback printing ``label: done/total`` to standard error at most every ``every_s`` s."""
    last = [-every_s]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s or done == total:
            last[0] = now
            print(f"{label}: {done}/{total} tasks", file=sys.stderr, flush=True)

    return report


def dask_mapper(client: Any, progress: Callable[[int, int], None] | None = None) -> Mapper:
    """A mapper running each item as one task on ``client``'s cluster; ``progress(done, total)`` is called as
    tasks finish. A task's exception is raised here, with its traceback from the worker."""
    from distributed import as_completed

    def mapper(fn: Callable[[Any], Any], items: Sequence[Any]) -> list:
        items = list(items)
        if not items:
            return []
        futures = client.map(fn, items, pure=False)
        for done, future in enumerate(as_completed(futures), start=1):
            if future.status == "error":
                future.result()  # raises the task's exception
            if progress is not None:
                progress(done, len(items))
        return client.gather(futures)

    return mapper


@contextmanager
def dask_client(scheduler: str | None = None, *, workers: int = 2, threads_per_worker: int = 1,
                memory_limit: str | float | None = "auto") -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` (e.g. ``tcp://HOST:8786``) when given, else to a new
    ``LocalCluster`` of ``workers`` processes on loopback (``threads_per_worker`` threads each, no dashboard).
    Both are closed on exit."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                           host="127.0.0.1", dashboard_address=None, memory_limit=memory_limit)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()
