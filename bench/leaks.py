"""Leak detection benchmark: Suvar's detector vs the LeakDB minimum-night-flow baseline.

Run (defaults take a few minutes on 2 cores)::

    .venv/bin/python bench/leaks.py                      # Hanoi, 5 seeds x 30 days; L-Town, 2 seeds x 30 days
    .venv/bin/python bench/leaks.py --network hanoi --seeds 1,2,3 --days 10

Full-year version (BattLeDIM-like: L-Town, 24 leaks in a year of 5-minute data after a leak-free training
year, large leaks repaired within weeks as in BattLeDIM 2019; per seed 3-6 minutes of simulation and about 2
minutes of detection and localisation on 2 cores):

    .venv/bin/python bench/leaks.py --network ltown --seeds 87,88,89,90 --days 365 --train-days 365

Prints, per network, the pooled BattLeDIM score (% of perfect, TP/FP/FN, false alarms per year, median delay,
mean distance to the true pipe), the LeakDB metrics (F1, TPR, TNR, early detection), the share of each seed's
test period with a tank run dry, and wall times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from suvar.leaks.benchmark import run_benchmark
from suvar.leaks.pipeline import MIN_COSINE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", choices=["ltown", "hanoi", "both"], default="both")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: 1..5 Hanoi, 1,2 L-Town)")
    parser.add_argument("--days", type=float, default=30, help="test days per seed")
    parser.add_argument("--train-days", type=float, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--min-fit", type=float, default=MIN_COSINE,
                        help="detect()'s min_cosine: lower finds more leaks and raises more false alarms")
    args = parser.parse_args(argv)
    networks = ["hanoi", "ltown"] if args.network == "both" else [args.network]
    for net in networks:
        default = "1,2,3,4,5" if net == "hanoi" else "1,2"
        seeds = [int(s) for s in (args.seeds or default).split(",")]
        t0 = time.perf_counter()
        result = run_benchmark(net, seeds, args.days, args.train_days, workers=args.workers, min_cosine=args.min_fit,
                               log=lambda msg: print(msg, file=sys.stderr, flush=True))
        result["wall_s"]["total"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(result, indent=1), flush=True)


if __name__ == "__main__":
    main()
