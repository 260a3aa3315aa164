"""Explanations of an allocation: for each user and step, requirement, allocation, coverage and why.

The binding reasons come from the solver (:mod:`.solve`), which reads them from the dual solution of the LP at
which the user's share was frozen; this module turns them into a table and into words.
"""

from __future__ import annotations

import pandas as pd

from .solve import AllocationResult

_WORDS = {
    "capacity": "conveyance capacity of {source} is full",
    "environmental_flow": "water held for the minimum environmental flow in {source}",
    "carry_over": "water kept in {source} for its carry-over target",
    "vital": "water needed for other users' minimum vital quantities",
    "priority": "water taken by higher-priority users ({source})",
    "seniority": "called by senior rights (priority date {source} or earlier)",
    "rule": "shared with users of the same class under the {source} rule",
    "supply": "supply exhausted{at}",
}


def reason_words(reason: str, source: str) -> str:
    """One binding reason in words."""
    return _WORDS[reason].format(source=source, at=f" at {source}" if source else "")


def explain(result: AllocationResult) -> pd.DataFrame:
    """Long table, one row per user and step.

    Columns: ``date, step, user, kind, body, priority, requirement_m3, allocation_m3, shortfall_m3, coverage,
    reason`` (the first binding reason's code: ``met``, ``no_requirement``, ``capacity``,
    ``environmental_flow``, ``carry_over``, ``vital``, ``priority``, ``seniority``, ``rule`` or ``supply``),
    ``reasons`` (all codes with their source, ``code:source`` joined by ``;``) and ``explanation`` (words).
    """
    req = result.requirement_m3.stack().rename("requirement_m3")
    got = result.delivered_m3.stack().rename("allocation_m3")
    table = pd.concat([req, got], axis=1).rename_axis(["date", "user"]).reset_index()
    steps = {d: i for i, d in enumerate(result.delivered_m3.index)}
    table.insert(1, "step", table["date"].map(steps))
    meta = {d.id: d for d in result.basin.demands}
    table.insert(3, "kind", table["user"].map(lambda u: meta[u].kind))
    table.insert(4, "body", table["user"].map(lambda u: meta[u].body))
    table.insert(5, "priority", table["user"].map(lambda u: meta[u].priority))
    table["shortfall_m3"] = (table["requirement_m3"] - table["allocation_m3"]).clip(lower=0.0)
    table["coverage"] = table["allocation_m3"] / table["requirement_m3"].where(table["requirement_m3"] > 0)
    grouped = {key: g for key, g in result.reasons.groupby(["step", "user"], sort=False)}
    codes, alls, words = [], [], []
    for step, user, r, cov in table[["step", "user", "requirement_m3", "coverage"]].itertuples(index=False):
        rows = grouped.get((step, user))
        if r <= 0:
            codes.append("no_requirement")
            alls.append("")
            words.append("no requirement this step")
        elif rows is None:
            codes.append("met")
            alls.append("")
            words.append("requirement met in full")
        else:
            pairs = list(rows[["reason", "source"]].itertuples(index=False, name=None))
            codes.append(pairs[0][0])
            alls.append(";".join(f"{c}:{s}" for c, s in pairs))
            words.append(f"{cov:.0%} of requirement: " + "; ".join(reason_words(c, s) for c, s in pairs))
    table["reason"], table["reasons"], table["explanation"] = codes, alls, words
    return table


def plan_record(result: AllocationResult, basin_sha256: str, scenario: str = "base") -> dict:
    """A published plan as plain JSON-ready data (the ``outputs`` a ledger entry records).

    ``users`` maps each user to its kind, body, priority and per-step ``requirement_m3``, ``allocation_m3``
    and ``reason``; ``dates`` are the steps' start dates (ISO), all volumes m³ per step.
    """
    table = explain(result)
    users = {}
    for user, g in table.groupby("user", sort=True):
        first = g.iloc[0]
        users[user] = {
            "kind": first["kind"],
            "body": first["body"],
            "priority": int(first["priority"]),
            "requirement_m3": [float(v) for v in g["requirement_m3"]],
            "allocation_m3": [round(float(v), 6) for v in g["allocation_m3"]],
            "reason": g["reason"].tolist(),
        }
    basin = result.basin
    return {
        "basin": basin.name,
        "basin_sha256": basin_sha256,
        "scenario": scenario,
        "time_step": basin.time_step,
        "rule": {str(p): basin.rule(p) for p in sorted({d.priority for d in basin.demands})},
        "dates": [d.date().isoformat() for d in result.delivered_m3.index],
        "users": users,
        "storage_m3": {r: [round(float(v), 6) for v in result.storage_m3[r]] for r in result.storage_m3},
    }
