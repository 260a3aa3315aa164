"""Delivery audit: Gini and Jain against hand-computed values, and a planted favoured user."""

import numpy as np
import pandas as pd
import pytest

from suvar.allocation.audit import AuditError, delivery_audit, gini, jain_index


def test_gini_and_jain_hand_values() -> None:
    # x = 1, 1, 0.5, 0.5: sum |xi - xj| over ordered pairs = 8 * 0.5 = 4; G = 4 / (2 * 16 * 0.75) = 1/6
    assert gini([1.0, 1.0, 0.5, 0.5]) == pytest.approx(1 / 6)
    # J = 3^2 / (4 * 2.5) = 0.9
    assert jain_index([1.0, 1.0, 0.5, 0.5]) == pytest.approx(0.9)
    # extremes: equality -> G = 0, J = 1; one user has everything -> G = (n-1)/n, J = 1/n
    assert gini([0.7] * 5) == 0.0 and jain_index([0.7] * 5) == pytest.approx(1.0)
    assert gini([0, 0, 0, 1.0]) == pytest.approx(0.75) and jain_index([0, 0, 0, 1.0]) == pytest.approx(0.25)


def _plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "body": ["wua-north", "wua-north", "wua-south", "wua-south", "city-utility"],
            "priority": [2, 2, 2, 2, 1],
            "requirement_m3": [100.0, 100.0, 100.0, 100.0, 50.0],
            "planned_m3": [90.0, 90.0, 90.0, 90.0, 50.0],
        },
        index=["fav", "n2", "s1", "s2", "city"],
    )


def test_planted_favoured_user_is_found_with_its_victims() -> None:
    metered = pd.Series({"fav": 130.0, "n2": 80.0, "s1": 75.0, "s2": 75.0, "city": 50.0})
    audit = delivery_audit(_plan(), metered, tolerance=0.05)
    assert audit.users.loc["fav", "status"] == "over"
    assert audit.users.loc["fav", "ratio"] == pytest.approx(130 / 90)
    assert list(audit.users["status"]) == ["over", "short", "short", "short", "on_plan"]
    # fav's 40 m³ excess attributed to the short users in proportion to shortfalls 10, 15, 15
    t = audit.transfers.set_index("loser")
    assert (t["gainer"] == "fav").all()
    np.testing.assert_allclose(t.loc[["n2", "s1", "s2"], "volume_m3"], [10.0, 15.0, 15.0])
    # class 2 coverage 1.3, 0.8, 0.75, 0.75: sum 3.6, sum of squares 3.455 -> J = 3.6^2 / (4 * 3.455);
    # |xi - xj| over unordered pairs 0.5 + 2 * 0.55 + 2 * 0.05 = 1.7 -> G = 2 * 1.7 / (2 * 16 * 0.9)
    assert audit.classes.loc[2, "jain"] == pytest.approx(3.6**2 / (4 * 3.455))
    assert audit.classes.loc[2, "gini"] == pytest.approx(3.4 / (2 * 16 * 0.9))
    assert audit.classes.loc[1, "jain"] == pytest.approx(1.0)
    # per local body: north gained 40 - 10 = net 30 at the expense of the south (30)
    assert audit.bodies.loc["wua-north", "gained_from_others_m3"] == pytest.approx(40.0)
    assert audit.bodies.loc["wua-north", "lost_to_others_m3"] == pytest.approx(10.0)
    assert audit.bodies.loc["wua-south", "lost_to_others_m3"] == pytest.approx(30.0)


def test_deliveries_within_tolerance_raise_no_flag() -> None:
    metered = pd.Series({"fav": 93.0, "n2": 88.0, "s1": 90.0, "s2": 87.0, "city": 50.0})
    audit = delivery_audit(_plan(), metered, tolerance=0.05)
    assert audit.transfers.empty and set(audit.users["status"]) == {"on_plan"}


def test_unmetered_user_is_named() -> None:
    with pytest.raises(AuditError, match=r"without meter readings: \['city'\]"):
        delivery_audit(_plan(), pd.Series({"fav": 1.0, "n2": 1.0, "s1": 1.0, "s2": 1.0}))
