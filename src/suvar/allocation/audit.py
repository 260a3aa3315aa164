"""Audit of metered deliveries against a published plan: fairness within classes, who gained at whose expense.

Per user over the audited period (volumes m³): ``ratio = metered / planned`` (actual over what the plan
entitled it to) and ``coverage = metered / requirement``. Within each priority class, on coverage:

* Gini coefficient ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))`` (0 = equal; Gini 1912, in the
  mean-difference form of e.g. Cowell, *Measuring Inequality*, 3rd ed., 2011, eq. 2.4);
* Jain's fairness index ``J = (sum x)^2 / (n sum x^2)`` (1 = equal, 1/n = one user has all; Jain, Chiu & Hawe,
  DEC-TR-301, 1984).

A user is **over-delivered** when ``metered > planned (1 + tolerance)`` and **short** when
``metered < planned (1 - tolerance)``. In a class with both, each over-delivered user's excess is attributed
to the short users of the class in proportion to their shortfalls ("who gained at whose expense").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from suvar.store import Store

PLAN_COLUMNS = ("body", "priority", "requirement_m3", "planned_m3")


class AuditError(ValueError):
    """Plan and meter readings that cannot be compared."""


def gini(x: np.ndarray | pd.Series) -> float:
    """Gini coefficient of non-negative values, mean-difference form (NaN for an empty or all-zero set)."""
    v = np.asarray(x, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0 or v.sum() == 0:
        return float("nan")
    return float(np.abs(v[:, None] - v[None, :]).sum() / (2 * v.size**2 * v.mean()))


def jain_index(x: np.ndarray | pd.Series) -> float:
    """Jain's fairness index ``(sum x)^2 / (n sum x^2)`` (NaN for an empty or all-zero set)."""
    v = np.asarray(x, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0 or (v**2).sum() == 0:
        return float("nan")
    return float(v.sum() ** 2 / (v.size * (v**2).sum()))


@dataclass
class DeliveryAudit:
    """Result of :func:`delivery_audit`."""

    users: pd.DataFrame
    """Per user: body, priority, requirement_m3, planned_m3, metered_m3, deviation_m3, ratio, coverage and
    status (``over``, ``short`` or ``on_plan``)."""
    classes: pd.DataFrame
    """Per priority class: users, gini, jain (on coverage), over, short."""
    transfers: pd.DataFrame
    """Rows ``priority, gainer, gainer_body, loser, loser_body, volume_m3``."""
    bodies: pd.DataFrame
    """Per local administrative body: planned_m3, metered_m3, excess_m3, shortfall_m3, gained_from_others_m3,
    lost_to_others_m3."""


def delivery_audit(plan: pd.DataFrame, metered_m3: pd.Series, tolerance: float = 0.05) -> DeliveryAudit:
    """Compare metered deliveries with the plan; see the module docstring for the measures.

    Parameters
    ----------
    plan : DataFrame indexed by user with columns ``body, priority, requirement_m3, planned_m3`` (period
        totals, m³).
    metered_m3 : Series indexed by user, metered volume over the same period (m³).
    tolerance : relative band around the planned volume inside which a delivery counts as on plan.
    """
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise AuditError(f"plan lacks columns {missing}")
    unmetered = sorted(set(plan.index) - set(metered_m3.index))
    unknown = sorted(set(metered_m3.index) - set(plan.index))
    if unmetered or unknown:
        raise AuditError(
            f"users without meter readings: {unmetered}; readings for users not in the plan: {unknown}"
        )
    if not 0 <= tolerance < 1:
        raise AuditError(f"tolerance must be in [0, 1), got {tolerance}")
    bad = sorted(str(u) for u, v in metered_m3.items() if not (np.isfinite(v) and v >= 0))
    if bad:
        raise AuditError(f"metered volumes must be finite and >= 0 m³; not so for {bad}")
    users = plan.loc[:, list(PLAN_COLUMNS)].copy()
    users["metered_m3"] = metered_m3.reindex(users.index).astype(float)
    users["deviation_m3"] = users["metered_m3"] - users["planned_m3"]
    users["ratio"] = users["metered_m3"] / users["planned_m3"].where(users["planned_m3"] > 0)
    users["coverage"] = users["metered_m3"] / users["requirement_m3"].where(users["requirement_m3"] > 0)
    over = users["metered_m3"] > users["planned_m3"] * (1 + tolerance)
    short = users["metered_m3"] < users["planned_m3"] * (1 - tolerance)
    users["status"] = np.where(over, "over", np.where(short, "short", "on_plan"))

    class_rows, transfer_rows = [], []
    for p, g in users.groupby("priority", sort=True):
        class_rows.append(
            {
                "priority": p,
                "users": len(g),
                "gini": gini(g["coverage"]),
                "jain": jain_index(g["coverage"]),
                "over": int((g["status"] == "over").sum()),
                "short": int((g["status"] == "short").sum()),
            }
        )
        gainers, losers = g[g["status"] == "over"], g[g["status"] == "short"]
        if gainers.empty or losers.empty:
            continue
        shortfall = -losers["deviation_m3"]
        for gainer, grow in gainers.sort_index().iterrows():
            for loser, lrow in losers.sort_index().iterrows():
                transfer_rows.append(
                    {
                        "priority": p,
                        "gainer": gainer,
                        "gainer_body": grow["body"],
                        "loser": loser,
                        "loser_body": lrow["body"],
                        "volume_m3": grow["deviation_m3"] * shortfall[loser] / shortfall.sum(),
                    }
                )
    transfers = pd.DataFrame(
        transfer_rows, columns=["priority", "gainer", "gainer_body", "loser", "loser_body", "volume_m3"]
    )
    bodies = users.groupby("body").agg(planned_m3=("planned_m3", "sum"), metered_m3=("metered_m3", "sum"))
    bodies["excess_m3"] = users["deviation_m3"].where(over, 0.0).groupby(users["body"]).sum()
    bodies["shortfall_m3"] = (-users["deviation_m3"]).where(short, 0.0).groupby(users["body"]).sum()
    bodies["gained_from_others_m3"] = (
        transfers.groupby("gainer_body")["volume_m3"].sum().reindex(bodies.index, fill_value=0.0)
    )
    bodies["lost_to_others_m3"] = (
        transfers.groupby("loser_body")["volume_m3"].sum().reindex(bodies.index, fill_value=0.0)
    )
    return DeliveryAudit(
        users=users,
        classes=pd.DataFrame(class_rows).set_index("priority"),
        transfers=transfers,
        bodies=bodies,
    )


def plan_totals(plan: dict, dates: list[str] | None = None) -> pd.DataFrame:
    """Period totals of a published plan (:func:`.explain.plan_record`), optionally over some of its dates."""
    keep = [i for i, d in enumerate(plan["dates"]) if dates is None or d in set(dates)]
    rows = {
        user: {
            "body": u["body"],
            "priority": u["priority"],
            "requirement_m3": float(np.sum(np.asarray(u["requirement_m3"])[keep])),
            "planned_m3": float(np.sum(np.asarray(u["allocation_m3"])[keep])),
        }
        for user, u in plan["users"].items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def delivered_m3(store: Store, meters: Mapping[str, str], start: object, end: object) -> pd.Series:
    """Metered delivery per user over ``[start, end)``, m³: the sum of the readings of its turnout volume meter
    (``meters``: user -> sensor id; volume meters store m³ per interval).

    Users whose meter has no reading in the period are left out, so :func:`delivery_audit` names them as
    unmetered rather than auditing a silent zero. The Dask path (:func:`suvar.lake.jobs.lake_delivery_audit`)
    calls this on chunks of users over the Parquet lake.
    """
    readings = store.series(sorted(set(meters.values())), start, end)
    per_sensor = readings.groupby("sensor_id")["value"].sum()
    return pd.Series({user: float(per_sensor[sid]) for user, sid in sorted(meters.items()) if sid in per_sensor.index},
                     dtype=float, name="metered_m3")
