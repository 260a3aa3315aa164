"""Alarms: one model for leaks, sensor faults, drought and data quality.

An alarm has a kind, a severity (info, warning, critical), a scope (utility or basin), an optional zone, the
time its condition began, a title in words and a JSON detail (candidate pipes, estimated loss, SPI ...). Raising
the same condition again (same ``dedup_key``) refreshes the open alarm instead of adding another. Operators
acknowledge and close alarms (``suvar alarms ack``, ``POST /api/v1/alarms/{id}/ack``).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

KINDS = ("leak", "sensor_fault", "drought", "data_quality")
SEVERITIES = ("info", "warning", "critical")


def alarm(kind: str, severity: str, scope: str, title: str, *, key: str, zone_id: str | None = None,
          start: pd.Timestamp | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """An alarm record ready for ``Store.raise_alarm``."""
    if kind not in KINDS or severity not in SEVERITIES:
        raise ValueError(f"alarm kind must be one of {KINDS} and severity one of {SEVERITIES}")
    start_ts = None if start is None else pd.Timestamp(start).tz_localize(None) if pd.Timestamp(
        start).tzinfo is None else pd.Timestamp(start).tz_convert("UTC").tz_localize(None)
    return {"dedup_key": f"{kind}:{scope}:{key}", "kind": kind, "severity": severity, "scope": scope,
            "zone_id": zone_id, "start_ts": start_ts, "title": title,
            "detail": json.dumps(detail, default=str) if detail is not None else None}


def drought_alarms(status: pd.DataFrame) -> list[dict[str, Any]]:
    """Early-warning alarms from :func:`suvar.agri.drought.drought_status` rows: a basin whose latest SPI is in
    drought (SPI ≤ −1, McKee et al. 1993) is a warning, ≤ −2 (WMO 'extremely dry') critical."""
    out = []
    for row in status.reset_index().to_dict("records"):
        if not row.get("in_drought"):
            continue
        severity = "critical" if row["spi"] <= -2 else "warning"
        out.append(alarm("drought", severity, str(row["basin"]), f"{row['basin']}: {row['class']} "
                         f"(SPI {row['spi']:.2f})", key=str(row["month"])[:7], start=row["month"],
                         detail={"spi": row["spi"], "class": row["class"]}))
    return out
