"""Panel data functions: chart steps, time ranges, tiles, the night-flow cache's invalidation and scoping."""

from __future__ import annotations

import pandas as pd
import pytest

from suvar.api.panel import scoped_overview
from suvar.panel import data
from suvar.security.roles import PERMISSIONS, Identity

D = pd.Timestamp("2026-10-01")


def test_chart_step_keeps_charts_under_800_points() -> None:
    for span, step in [("24h", 900), ("7d", 900), ("30d", 3600), ("60d", 3 * 3600), ("180d", 6 * 3600),
                       ("365d", 86400), ("1500d", 2 * 86400)]:
        got = data.choose_step_s(D, D + pd.Timedelta(span))
        assert got == step, span
        assert pd.Timedelta(span).total_seconds() / got <= data.MAX_POINTS


def test_relative_ranges_end_at_the_latest_data() -> None:
    counts = pd.Series({D: 96, D + pd.Timedelta(days=1): 96, D + pd.Timedelta(days=2): 0})
    assert data.resolve_range(counts, "24h") == (D + pd.Timedelta(days=1), D + pd.Timedelta(days=2))
    assert data.resolve_range(counts, "7d")[1] == D + pd.Timedelta(days=2)
    assert data.resolve_range(counts, "custom", "2026-09-01", "2026-09-03") == (
        pd.Timestamp("2026-09-01"), pd.Timestamp("2026-09-03"))
    with pytest.raises(ValueError, match="not after"):
        data.resolve_range(counts, "custom", "2026-09-03", "2026-09-01")
    with pytest.raises(ValueError, match="range must be"):
        data.resolve_range(counts, "1y")


def test_tile_status_against_its_target() -> None:
    assert data.tile("water", "nrw", 15.0, "%", 20.0, "lower")["status"] == "ok"
    assert data.tile("water", "nrw", 25.0, "%", 20.0, "lower")["status"] == "warning"
    assert data.tile("water", "nrw", 35.0, "%", 20.0, "lower")["status"] == "critical"
    assert data.tile("water", "coverage", 80.0, "%", 90.0, "higher")["status"] == "warning"
    assert data.tile("water", "coverage", None, "%", 90.0, "higher")["status"] == "unknown"
    assert data.tile("water", "losses", 12.0, "m³", None, "lower")["status"] == "info"


class CountingStore:
    """Just enough of a store for DailyCache: readings per day of one sensor, and a log of count queries."""

    def __init__(self, per_day: dict[pd.Timestamp, int]) -> None:
        self.per_day = dict(per_day)
        self.queries: list[pd.Timestamp | None] = []

    def reading_count(self) -> int:
        return sum(self.per_day.values())

    def sensors(self, utility_id: str) -> pd.DataFrame:
        return pd.DataFrame({"sensor_id": ["S1"]})

    def series(self, ids, start, end, step_s, agg) -> pd.DataFrame:  # noqa: ANN001
        self.queries.append(start)
        rows = [(d, n) for d, n in self.per_day.items() if start is None or d >= start]
        return pd.DataFrame({"sensor_id": "S1", "ts": [d for d, _ in rows], "value": [n for _, n in rows]})


def test_day_counts_are_recounted_only_when_readings_change() -> None:
    days = [D + pd.Timedelta(days=i) for i in range(10)]
    store = CountingStore(dict.fromkeys(days, 96))
    cache = data.DailyCache()
    cache._days["u"] = data._UtilityDays()
    assert cache.day_counts(store, "u").sum() == 960 and store.queries == [None]
    cache._days["u"].night[("Z", days[2])] = {"mnf_m3h": 1.0}
    cache._days["u"].night[("Z", days[9])] = {"mnf_m3h": 2.0}
    cache.day_counts(store, "u")
    assert store.queries == [None]  # nothing new: no query
    store.per_day[days[9]] += 4  # late readings for the last day: only the recent window is recounted
    assert cache.day_counts(store, "u")[days[9]] == 100
    assert store.queries[-1] == days[9] - pd.Timedelta(days=data.RECOUNT_DAYS)
    assert ("Z", days[9]) not in cache._days["u"].night and ("Z", days[2]) in cache._days["u"].night
    store.per_day[days[2]] += 1  # an old day changed: the window does not explain it, every day is recounted
    assert cache.day_counts(store, "u")[days[2]] == 97
    assert store.queries[-1] is None
    assert ("Z", days[2]) not in cache._days["u"].night


def test_a_scoped_user_sees_only_its_utilities_totals() -> None:
    z = {"system_input_volume_m3": 100.0, "non_revenue_water_m3": 10.0, "real_losses_m3": 5.0}
    view = {"headline": {"nrw_pct": 12.5, "real_losses_m3": 25.0, "open_leak_alarms": 3, "open_alarms": 4},
            "utilities": [{"utility_id": "a", "totals": z, "open_leak_alarms": 1, "open_alarms": 1},
                          {"utility_id": "b", "totals": {**z, "non_revenue_water_m3": 30.0, "real_losses_m3": 20.0},
                           "open_leak_alarms": 2, "open_alarms": 3}],
            "basins": [{"utility_id": "r", "name": "river"}]}
    who = Identity("ana", "user", PERMISSIONS["analyst"], scope="utility:a", role="analyst")
    cut = scoped_overview(view, who, {})
    assert [u["utility_id"] for u in cut["utilities"]] == ["a"] and cut["basins"] == []
    assert cut["headline"]["nrw_pct"] == pytest.approx(10.0)
    assert cut["headline"]["real_losses_m3"] == 5.0 and cut["headline"]["open_leak_alarms"] == 1
    everyone = Identity("boss", "user", PERMISSIONS["admin"], role="admin")
    assert scoped_overview(view, everyone, {}) is view


def test_pages_carry_a_content_security_policy_that_their_scripts_satisfy(client) -> None:  # noqa: ANN001
    """Inline scripts run only with the response's nonce (OWASP ASVS 14.4.3); no inline event handlers remain."""
    import re
    from pathlib import Path

    page = client.get("/login")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    scripts = re.findall(r"<script([^>]*)>", page.text)
    inline = [attrs for attrs in scripts if "src=" not in attrs and "application/json" not in attrs]
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert client.get("/login").headers["content-security-policy"] != policy  # a fresh nonce per response
    templates = Path(__file__).parents[1] / "src" / "suvar" / "panel" / "templates"
    assert not [p.name for p in templates.glob("*.html") if re.search(r"\son[a-z]+=", p.read_text())]
