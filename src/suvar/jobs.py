"""Scheduled work: what the server does on its own as data arrives.

Each pass (:func:`run_jobs`) refreshes the kept daily and monthly balance of every zone
(:func:`suvar.balance.refresh.refresh_zone_balances`) and scans every utility's SCADA telemetry for sensor faults
and quarantined batches (:func:`suvar.telemetry.quality.scan_data_quality`, whose alarms are deduplicated, so a
fault seen again raises nothing new). ``suvar serve`` runs a pass every ``SUVAR_JOBS_INTERVAL_S`` seconds in a
background thread (0 turns it off); ``suvar audit refresh`` refreshes the balances now. Leak scans run on demand
(``suvar leaks scan``) or from the operator's own scheduler: the first scan of a network simulates a leak on each
of its pipes and takes minutes; later ones reuse the signatures kept in ``SUVAR_CACHE_DIR`` and take seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from suvar.balance.refresh import refresh_zone_balances
from suvar.store import Store
from suvar.telemetry.quality import scan_data_quality

log = logging.getLogger("suvar.jobs")


def run_jobs(store: Store, *, progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """One pass of the scheduled work; returns what each job did."""
    started = time.monotonic()
    balances = refresh_zone_balances(store, progress=progress)
    faults = {}
    for utility_id in store.utilities()["utility_id"]:
        faults[utility_id] = len(scan_data_quality(store, utility_id))
    return {"zone_balances": balances, "sensor_faults": faults, "seconds": round(time.monotonic() - started, 2)}


def start_scheduler(store: Store, interval_s: float) -> threading.Event | None:
    """Run :func:`run_jobs` every ``interval_s`` seconds in a daemon thread (first pass at once); returns an event
    that stops it, or None when ``interval_s`` is 0. A failing pass is logged and retried at the next interval."""
    if interval_s <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                log.info("scheduled jobs: %s", run_jobs(store))
            except Exception:  # a bad pass must not stop the schedule; the next one retries
                log.exception("scheduled jobs failed")
            stop.wait(interval_s)

    threading.Thread(target=loop, daemon=True, name="suvar-jobs").start()
    return stop
