"""Per-step allocation LP: hand-computed cases for every stage and sharing rule."""

import random
import re
from pathlib import Path

import numpy as np
import pytest

from suvar.allocation import model as basin_model
from suvar.allocation.model import BasinError, load_basin, parse_basin
from suvar.allocation.rules import RULES
from suvar.allocation.solve import InfeasibleBasinError, allocate, components

DATA = Path(__file__).parent / "data" / "allocation"


def basin(**parts) -> dict:
    return {"name": "t", "time_step": "day", "start": "2025-01-01", "n_steps": 1, **parts}


def pool(rule: str, supply: float, claims: list[float]) -> dict:
    """One source feeding equal-priority users directly: the claims problem without network constraints."""
    users = [f"u{i}" for i in range(len(claims))]
    return basin(
        groundwater=[{"id": "src", "sustainable_yield_m3": supply}],
        links=[{"id": f"l{u}", "from": "src", "to": u} for u in users],
        demands=[
            {"id": u, "kind": "city", "demand_m3": c, "priority": 1, "body": "b"}
            for u, c in zip(users, claims, strict=True)
        ],
        sharing={1: rule},
    )


def test_small_river_equal_coverage_by_hand() -> None:
    """90 m³ reach the weir (10 % reach loss). Town A's canal loses 20 %, so full coverage c of both users
    needs 50c/0.8 + 60c = 90 m³ at the weir: c = 90/122.5 = 0.7347 (step 3: 54/122.5)."""
    result = allocate(load_basin(DATA / "small_river.yaml"))
    cov = result.coverage
    np.testing.assert_allclose(cov["town_a"], [90 / 122.5, 90 / 122.5, 54 / 122.5], rtol=1e-7)
    np.testing.assert_allclose(cov["farms_b"], cov["town_a"], rtol=1e-7)
    np.testing.assert_allclose(result.link_flow_m3["canal_a"], result.delivered_m3["town_a"] / 0.8, rtol=1e-7)
    assert set(result.reasons["reason"]) == {"supply"}


def test_equal_priority_splits_evenly_where_pywr_picks_a_vertex() -> None:
    """Pywr issue #962: two equal-cost outputs of 80 on a 100 supply; Pywr 1.31.1 returns 80/20
    (a vertex of the LP). Suvar's equal coverage gives 50/50."""
    result = allocate(parse_basin(pool("equal_coverage", 100.0, [80.0, 80.0])))
    np.testing.assert_allclose(result.delivered_m3.iloc[0].to_numpy(), [50.0, 50.0])


@pytest.mark.parametrize("rule", ["proportional", "cea", "cel", "talmud"])
def test_single_pool_reduces_to_claims_rule(rule: str) -> None:
    """Without separate constraints every sharing rule is the claims rule on the pool (A&M 1985 claims)."""
    for supply in (100.0, 200.0, 300.0, 450.0):
        result = allocate(parse_basin(pool(rule, supply, [100.0, 200.0, 300.0])))
        expected = RULES[rule](supply, [100.0, 200.0, 300.0])
        np.testing.assert_allclose(result.delivered_m3.iloc[0].to_numpy(), expected, rtol=1e-7, atol=1e-6)


def test_talmud_with_a_separately_constrained_user() -> None:
    """Claims 100/200/300, supply 300: Talmud targets 50/100/150. User u2's pipe carries only 60, so the
    90 it cannot take are shared by equal coverage of the other two: targets 50/100 are met, then the
    remaining 90 raise both to a common coverage of 240/300 = 0.8 -> 80/160."""
    spec = pool("talmud", 300.0, [100.0, 200.0, 300.0])
    spec["links"][2]["capacity_m3"] = 60.0
    got = allocate(parse_basin(spec)).delivered_m3.iloc[0].to_numpy()
    np.testing.assert_allclose(got, [80.0, 160.0, 60.0], rtol=1e-7)


def test_priority_classes_are_lexicographic() -> None:
    spec = pool("equal_coverage", 100.0, [60.0, 30.0, 40.0])
    spec["demands"][0]["priority"] = 2
    result = allocate(parse_basin(spec))
    # class 1 (u1, u2) takes 70 in full; class 2 gets the 30 left
    np.testing.assert_allclose(result.delivered_m3.iloc[0].to_numpy(), [30.0, 30.0, 40.0])
    # both hold: class 1's fixed deliveries and the exhausted aquifer
    assert result.reasons[["user", "reason", "source"]].values.tolist() == [
        ["u0", "priority", "class 1"],
        ["u0", "supply", "src"],
    ]


def test_canal_capacity_is_the_binding_reason() -> None:
    spec = pool("equal_coverage", 100.0, [40.0, 40.0])
    spec["links"][0]["capacity_m3"] = 10.0
    result = allocate(parse_basin(spec))
    # u0 frozen at 10 by its canal; u1 then takes its full 40 (iterated, not dragged down to 25 %)
    np.testing.assert_allclose(result.delivered_m3.iloc[0].to_numpy(), [10.0, 40.0])
    assert result.reasons[["user", "reason", "source"]].values.tolist() == [["u0", "capacity", "lu0"]]


def test_senior_downstream_call_curtails_junior_upstream() -> None:
    """Prior appropriation: the 1890 right downstream needs 60 delivered through a reach losing 10 %, i.e.
    66.67 m³ at the upstream diversion; the 1950 junior upstream keeps 100 - 66.67 = 33.33."""
    spec = basin(
        catchments=[{"id": "head", "inflow_m3": 100.0}],
        junctions=[{"id": "up"}, {"id": "down"}],
        outlets=[{"id": "sea"}],
        links=[
            {"id": "r0", "from": "head", "to": "up", "kind": "river"},
            {"id": "c_junior", "from": "up", "to": "junior"},
            {"id": "r1", "from": "up", "to": "down", "kind": "river", "loss_fraction": 0.1},
            {"id": "c_senior", "from": "down", "to": "senior"},
            {"id": "r2", "from": "down", "to": "sea", "kind": "river"},
        ],
        demands=[
            {
                "id": "junior",
                "kind": "irrigation",
                "demand_m3": 70,
                "priority": 1,
                "body": "upper",
                "seniority": "1950-04-01",
            },
            {
                "id": "senior",
                "kind": "irrigation",
                "demand_m3": 60,
                "priority": 1,
                "body": "lower",
                "seniority": "1890-06-15",
            },
        ],
        sharing={1: "seniority"},
    )
    result = allocate(parse_basin(spec))
    assert result.delivered_m3.loc[:, "senior"].iloc[0] == pytest.approx(60.0)
    assert result.delivered_m3.loc[:, "junior"].iloc[0] == pytest.approx(100 - 60 / 0.9)
    assert result.reasons[["user", "reason", "source"]].values.tolist() == [["junior", "seniority", "1890-06-15"]]


def test_minimum_vital_quantity_before_priorities() -> None:
    spec = pool("equal_coverage", 100.0, [100.0, 50.0])
    spec["demands"][1].update(priority=2, minimum_vital_m3=20.0)
    result = allocate(parse_basin(spec))
    np.testing.assert_allclose(result.delivered_m3.iloc[0].to_numpy(), [80.0, 20.0])


def test_environmental_flow_held_before_demands_and_reservoir_carry_over() -> None:
    spec = basin(
        n_steps=2,
        catchments=[{"id": "head", "inflow_m3": 50.0}],
        reservoirs=[
            {
                "id": "dam",
                "capacity_m3": 500.0,
                "dead_storage_m3": 20.0,
                "initial_storage_m3": 100.0,
                "evaporation_m3": 5.0,
                "carry_over_target_m3": 60.0,
                "carry_over_priority": 2,
            }
        ],
        junctions=[{"id": "j"}],
        outlets=[{"id": "sea"}],
        links=[
            {"id": "in", "from": "head", "to": "dam", "kind": "river"},
            {"id": "out", "from": "dam", "to": "j", "kind": "river"},
            {"id": "c1", "from": "j", "to": "city"},
            {"id": "c2", "from": "j", "to": "farm"},
            {"id": "mrf", "from": "j", "to": "sea", "kind": "river", "min_flow_m3": 30.0},
        ],
        demands=[
            {"id": "city", "kind": "city", "demand_m3": 70, "priority": 1, "body": "b"},
            {"id": "farm", "kind": "irrigation", "demand_m3": 100, "priority": 2, "body": "b"},
        ],
    )
    result = allocate(parse_basin(spec))
    # step 1: 100 - 5 evaporation + 50 inflow = 145, of which 125 lie above the 20 m³ dead storage;
    # 30 go to the river (environmental flow), 70 to the city (class 1); the farm (class 2) may not draw the
    # dam below its 60 m³ carry-over target, and storage is already 45 < 60, so the farm gets nothing.
    # step 2: 45 - 5 + 50 = 90, 70 above dead storage: 30 to the river, 40 to the city, storage 20.
    np.testing.assert_allclose(result.delivered_m3["city"], [70.0, 40.0])
    np.testing.assert_allclose(result.delivered_m3["farm"], [0.0, 0.0])
    np.testing.assert_allclose(result.link_flow_m3["mrf"], [30.0, 30.0])
    np.testing.assert_allclose(result.storage_m3["dam"], [45.0, 20.0])
    city = result.reasons[result.reasons["user"] == "city"]
    assert city.loc[city["step"] == 1, ["reason", "source"]].values.tolist() == [
        ["environmental_flow", "mrf"],
        ["supply", "dam"],
    ]
    farm = result.reasons[result.reasons["user"] == "farm"]
    assert ["carry_over", "dam"] in farm.loc[farm["step"] == 0, ["reason", "source"]].values.tolist()


def test_node_order_does_not_change_the_plan() -> None:
    spec = load_basin(DATA / "valley.yaml").model_dump(by_alias=True)
    reference = allocate(parse_basin(spec))
    rng = random.Random(3)
    for _ in range(3):
        shuffled = {k: (rng.sample(v, len(v)) if isinstance(v, list) else v) for k, v in spec.items()}
        got = allocate(parse_basin(shuffled))
        assert got.delivered_m3.sort_index(axis=1).equals(reference.delivered_m3.sort_index(axis=1))
        assert got.storage_m3.sort_index(axis=1).equals(reference.storage_m3.sort_index(axis=1))


def test_infeasible_basin_names_the_constraint_to_relax() -> None:
    spec = basin(
        catchments=[{"id": "head", "inflow_m3": 100.0}],
        outlets=[{"id": "sea"}],
        links=[{"id": "gorge", "from": "head", "to": "sea", "kind": "river", "capacity_m3": 40.0}],
    )
    with pytest.raises(InfeasibleBasinError) as info:
        allocate(parse_basin(spec))
    assert info.value.step == 0
    assert len(info.value.relaxations) == 1
    assert info.value.relaxations[0]["constraint"].startswith("links.gorge.capacity_m3")
    assert info.value.relaxations[0]["amount_m3"] == pytest.approx(60.0)


def test_validation_errors_name_the_field() -> None:
    with pytest.raises(BasinError, match=r"links\[0\]\.to: unknown node 'nowhere'"):
        parse_basin(basin(catchments=[{"id": "c", "inflow_m3": 1}], links=[{"id": "l", "from": "c", "to": "nowhere"}]))
    with pytest.raises(BasinError, match=r"catchments\[0\]\.inflow_m3: 3 values, expected n_steps = 1"):
        parse_basin(basin(catchments=[{"id": "c", "inflow_m3": [1, 2, 3]}]))
    with pytest.raises(BasinError, match=r"reservoirs\.0.*initial_storage_m3 = 9.0 exceeds capacity_m3 = 5.0"):
        parse_basin(basin(reservoirs=[{"id": "r", "capacity_m3": 5, "initial_storage_m3": 9}]))
    with pytest.raises(BasinError, match=r"demands\.0\.demand_m3: .*>= 0"):
        parse_basin(basin(demands=[{"id": "d", "kind": "city", "demand_m3": -1, "priority": 1, "body": "b"}]))


def test_every_model_field_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "basin-model.md").read_text()
    sections = dict(re.findall(r"^### `?(\w+)`?\n(.*?)(?=^### |\Z)", doc, flags=re.M | re.S))
    for cls in (
        basin_model.Basin,
        basin_model.Catchment,
        basin_model.Reservoir,
        basin_model.Groundwater,
        basin_model.Junction,
        basin_model.Outlet,
        basin_model.Link,
        basin_model.Demand,
    ):
        assert cls.__name__ in sections, f"docs/basin-model.md has no section for {cls.__name__}"
        for name, info in cls.model_fields.items():
            assert f"`{info.alias or name}`" in sections[cls.__name__], f"{cls.__name__}.{name} undocumented"


def _scaled(spec: dict, factor: float) -> dict:
    """The basin with every m³ field multiplied by ``factor``."""

    def item(d: dict) -> dict:
        return {
            k: (np.asarray(v) * factor).tolist() if k.endswith("_m3") and v is not None else v for k, v in d.items()
        }

    return {k: [item(x) for x in v] if isinstance(v, list) else v for k, v in spec.items()}


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_plan_does_not_depend_on_the_volume_unit(factor: float) -> None:
    """Coverage is dimensionless: m³ or thousands of m³ give the same plan (guards the LP's scaling)."""
    spec = load_basin(DATA / "valley.yaml").model_dump(by_alias=True)
    reference = allocate(parse_basin(spec)).coverage
    got = allocate(parse_basin(_scaled(spec, factor))).coverage
    np.testing.assert_allclose(got.to_numpy(), reference.to_numpy(), atol=1e-9)


def test_independent_parts_are_solved_apart_with_the_same_result() -> None:
    spec = load_basin(DATA / "small_river.yaml").model_dump(by_alias=True)
    twin = {
        k: [{f: (f"{x}_2" if f in ("id", "from", "to") else x) for f, x in d.items()} for d in v]
        if isinstance(v, list)
        else v
        for k, v in spec.items()
    }
    both = {k: spec[k] + twin[k] if isinstance(spec[k], list) else spec[k] for k in spec}
    basin = parse_basin(both)
    assert [sorted(d.id for d in p.demands) for p in components(basin)] == [
        ["farms_b", "town_a"],
        ["farms_b_2", "town_a_2"],
    ]
    result = allocate(basin)
    assert allocate(basin, workers=2).delivered_m3.equals(result.delivered_m3)
    np.testing.assert_allclose(result.coverage["town_a_2"], result.coverage["town_a"], rtol=1e-12)
    np.testing.assert_allclose(result.coverage["town_a"], [90 / 122.5, 90 / 122.5, 54 / 122.5], rtol=1e-7)


def test_equal_coverage_matches_water_filling_on_random_pools() -> None:
    """One source feeding users through lossy, capacity-limited links: the leximin solution is water filling,
    ``d_i = min(r_i c, (1 - l_i) cap_i)`` with the common coverage ``c`` spending the whole supply ``S`` (found
    here by bisection), or everyone in full when ``S`` suffices."""
    rng = np.random.default_rng(11)
    for _ in range(15):
        n = int(rng.integers(2, 7))
        req, cap, loss = rng.uniform(10, 100, n), rng.uniform(5, 120, n), rng.uniform(0, 0.3, n)
        supply = float(rng.uniform(20, 400))
        spec = pool("equal_coverage", supply, req.tolist())
        for k, link in enumerate(spec["links"]):
            link.update(capacity_m3=float(cap[k]), loss_fraction=float(loss[k]))

        def gross(c: float, req: np.ndarray = req, cap: np.ndarray = cap, loss: np.ndarray = loss) -> float:
            return float(np.minimum(req * c / (1 - loss), cap).sum())

        lo, hi = 0.0, 1.0
        if gross(1.0) > supply:
            for _ in range(200):
                lo, hi = ((lo + hi) / 2, hi) if gross((lo + hi) / 2) <= supply else (lo, (lo + hi) / 2)
        expected = np.minimum(req * hi, cap * (1 - loss))
        got = allocate(parse_basin(spec)).delivered_m3.iloc[0].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
