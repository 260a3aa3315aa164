"""Zone page benchmark: a year of 15-minute data for a zone, and what the panel's zone view costs over it.

The store holds two zones of 100 AMR meters, an inlet meter and a pressure sensor each, 365 days at 15 minutes
(about 7 million readings, built like ``bench/balance.py``), with the kept daily balances refreshed as
``suvar serve`` does. Timed, on the server (no HTTP) and end to end through the ASGI app:

- the zone page's data (``suvar.panel.data.zone_page``: latest balance box and daily balances from the kept
  rows, night flows from the per-day cache, pressure and net-inflow charts bucketed in the store, data
  quality) for the 24 h, 7 d and 30 d ranges and a custom range of the whole year, the first time (cold: the
  night flows are computed) and again (warm);
- the baseline: the same answers computed from the raw readings on every request (``zone_balances`` and
  ``zone_night_flow`` over the range, and pandas resampling of the raw readings for the charts);
- wall time of ``GET /api/v1/utilities/{u}/zones/{z}/panel`` and of the HTML page, through the ASGI app.

Run: ``.venv/bin/python bench/panel.py [--days 365]``. Prints JSON and writes ``bench/out/panel.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))
from balance import START, build  # noqa: E402
from suvar.api.app import create_app  # noqa: E402
from suvar.balance.refresh import refresh_zone_balances  # noqa: E402
from suvar.balance.zone import zone_balances, zone_night_flow  # noqa: E402
from suvar.config import load_settings  # noqa: E402
from suvar.panel.data import DailyCache, choose_step_s, resolve_range, zone_page  # noqa: E402
from suvar.security.tokens import create_token  # noqa: E402
from suvar.security.users import create_user  # noqa: E402
from suvar.store import DuckStore  # noqa: E402

OUT = Path(__file__).parent / "out"
U, Z = "bench", "Z000"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ms(fn, repeat: int = 1) -> tuple[object, float]:  # noqa: ANN001
    """The result and the median milliseconds of ``repeat`` calls."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return value, round(statistics.median(times), 1)


def baseline(store: DuckStore, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """The zone page's answers from raw readings: balances and night flows recomputed, charts resampled in
    pandas."""
    balances = zone_balances(store, U, Z, start, end, freq="D")
    night = zone_night_flow(store, U, Z, start, end)
    sensors = store.sensors(U, Z)
    raw = store.series(sensors.loc[sensors["kind"].isin(["pressure", "flow"]), "sensor_id"].tolist(), start, end)
    step = f"{choose_step_s(start, end)}s"
    charts = raw.set_index("ts").groupby("sensor_id")["value"].resample(step).mean()
    return {"days": len(balances), "nights": len(night), "points": len(charts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="suvar-bench-panel-") as tmp:
        path = Path(tmp) / "panel.duckdb"
        n = build(path, 2, 100, args.days)
        store = DuckStore(path)
        _, refresh_ms = ms(lambda: refresh_zone_balances(store))
        log(f"kept balances refreshed in {refresh_ms / 1000:.1f} s")
        cache = DailyCache()
        end = START + pd.Timedelta(days=args.days)
        year = {"start": START.date().isoformat(), "end": end.date().isoformat()}
        server: dict[str, dict] = {}
        for key in ("24h", "7d", "30d", "year"):
            rng, extra = ("custom", year) if key == "year" else (key, {})
            page, cold = ms(lambda rng=rng, extra=extra: zone_page(store, cache, U, Z, rng, **extra))
            _, warm = ms(lambda rng=rng, extra=extra: zone_page(store, cache, U, Z, rng, **extra), args.repeat)
            s, e = resolve_range(cache.day_counts(store, U), rng, extra.get("start"), extra.get("end"))
            base, base_ms = ms(lambda s=s, e=e: baseline(store, s, e))
            server[key] = {"cold_ms": cold, "warm_ms": warm, "baseline_ms": base_ms,
                           "speedup_warm": round(base_ms / warm, 1), "days": len(page["daily"]),
                           "chart_points": len(page["series"]["pressure"]["ts"]), "baseline": base}
            log(f"{key}: cold {cold} ms, warm {warm} ms, baseline {base_ms} ms")
        app = create_app(store, load_settings({"SUVAR_RATE_LIMIT_PER_MIN": "0"}))
        client = TestClient(app)
        token = create_token(store, "bench", ["read"])
        create_user(store, "bench-viewer", "bench password 1", "viewer")
        login = client.post("/api/v1/login", json={"username": "bench-viewer", "password": "bench password 1"})
        assert login.is_success, login.text
        wall = {}
        for key in ("7d", "30d"):
            r, api_ms = ms(lambda key=key: client.get(f"/api/v1/utilities/{U}/zones/{Z}/panel?range={key}",
                                                      headers={"Authorization": f"Bearer {token}"}), args.repeat)
            assert r.status_code == 200, r.text
            r, page_ms = ms(lambda key=key: client.get(f"/utilities/{U}/zones/{Z}?range={key}"), args.repeat)
            assert r.status_code == 200 and "balance-box" in r.text
            wall[key] = {"api_ms": api_ms, "html_page_ms": page_ms, "json_bytes": len(r.content)}
            log(f"{key} wall: API {api_ms} ms, HTML page {page_ms} ms")
        store.close()
    result = {"readings": n, "days": args.days, "zone": f"{U}/{Z}", "balance_refresh_ms": refresh_ms,
              "server": server, "wall": wall}
    OUT.mkdir(exist_ok=True)
    (OUT / "panel.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
