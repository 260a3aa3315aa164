"""Seed a copy of the demo store for the panel's browser tests: users of several roles, the demo basin's plans
published through the API, and a leak alarm on the demo's planted leak."""

from __future__ import annotations

from pathlib import Path

import pyotp
import yaml
from fastapi.testclient import TestClient

from suvar.alarms import alarm
from suvar.security.tokens import create_token
from suvar.security.users import create_user
from suvar.store import Store

PASSWORD = "correct horse battery"
#: username -> (role, scope)
USERS = {
    "ops": ("operator", "country"),
    "ana": ("analyst", "utility:ltown"),
    "view": ("viewer", "country"),
    "boss": ("admin", "country"),
}


def seed(store: Store, app, basin_dir: Path, drought_factor: float) -> dict[str, str]:  # noqa: ANN001
    """Create the users (returns admin TOTP secrets by name), publish the normal and drought plans of the demo
    basin through ``POST /api/v1/allocation/publish`` with an allocate token, and raise a leak alarm on pipe p654
    (the demo's planted leak from day 3 03:05), shaped as ``suvar leaks scan`` raises them."""
    secrets = {}
    for name, (role, scope) in USERS.items():
        made = create_user(store, name, PASSWORD, role, scope=scope, locale="en")
        if made.totp_uri:
            secrets[name] = pyotp.parse_uri(made.totp_uri).secret
    token = create_token(store, "basin-commission", ["allocate"])
    basin = yaml.safe_load((basin_dir / "basin.yaml").read_text())
    client = TestClient(app)
    for scenario, factor in (("normal", 1.0), ("drought", drought_factor)):
        r = client.post("/api/v1/allocation/publish", headers={"Authorization": f"Bearer {token}"},
                        json={"basin": basin, "scenario": scenario, "inflow_factor": factor})
        assert r.status_code == 200, r.text
    store.raise_alarm(alarm(
        "leak", "critical", "ltown", "Leak suspected from 2026-10-04 03:05 near pipe p654, about 10.2 m³/h",
        key="2026-10-04 03:05:00", zone_id="A", start=None,
        detail={"start": "2026-10-04 03:05:00", "zone": "A", "pipe": "p654",
                "candidates": [["p654", 0.61], ["p653", 0.22], ["p655", 0.17]],
                "est_size_m3h": 10.2,
                "evidence": {"area": {"radius_m": 300.0, "pipes": ["p654", "p653", "p655", "p652", "p656"],
                                      "likelihood": 0.93},
                             # as suvar.leaks.placement.survey_sites gives for that area (tests/test_leaks_placement.py)
                             "logger_sites": {"nodes": ["n611", "n609"], "confusable_pairs": [9, 4]},
                             # once loggers are in there: the area ranked again (suvar.leaks.survey.survey_alarm)
                             "logger_survey": {"loggers": ["n611", "n609"], "days": ["2026-10-05", "2026-10-07"],
                                               "n_days": 3, "pipe": "p654", "est_size_m3h": 9.8, "cosine": 0.99,
                                               "candidates": [["p654", 0.72], ["p655", 0.2], ["p653", 0.08]]}}}))
    return secrets
