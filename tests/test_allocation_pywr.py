"""Pywr 1.x import: own model (always) and flows against Pywr 1.31.1 on the shared Pywr models."""

import json
from pathlib import Path

import numpy as np
import pytest

from suvar.allocation.pywr_import import PywrImportError, import_pywr, load_pywr
from suvar.allocation.solve import allocate

DATA = Path(__file__).parent / "data" / "allocation"
SHARED = Path(__file__).parents[2] / "shared" / "pywr-models"
COMPARED = ["tutorial", "simple1", "loss_link", "river_mrf1", "reservoir1", "reservoir2"]
N_STEPS = 365


def test_import_own_model_equal_split_losses_and_monthly_mrf() -> None:
    """Jan: 100 in, MRF 10; the canal (net max 60, loss 25 % of net) feeds town and farms (same cost) 30 each,
    the mill (lower cost rank) takes the 15 left. Jul: 60 in, MRF 30, 30 gross -> 24 net -> 12 each.
    Pywr 1.31.1 returns 10/50 and 0/24 for town/farms on the same file: an arbitrary vertex (issue #962)."""
    basin = load_pywr(DATA / "pywr_equal_priority.json")
    assert basin.n_steps == 365
    assert {d.id: d.priority for d in basin.demands} == {"town": 1, "farms": 1, "mill": 2}
    canal = next(x for x in basin.links if x.id == "canal:link")
    assert canal.loss_fraction == pytest.approx(0.25 / 1.25)
    assert canal.capacity_m3 == pytest.approx(75.0)
    got = allocate(basin).delivered_m3
    np.testing.assert_allclose(got.loc["2021-01-01", ["town", "farms", "mill"]], [30.0, 30.0, 15.0])
    np.testing.assert_allclose(got.loc["2021-07-10", ["town", "farms", "mill"]], [12.0, 12.0, 0.0])


def test_unsupported_features_are_named() -> None:
    data = json.loads((DATA / "pywr_equal_priority.json").read_text())
    data["nodes"][0]["flow"] = {"type": "controlcurve", "storage_node": "x"}
    with pytest.raises(PywrImportError, match=r"nodes\.river_head\.flow: parameter type 'controlcurve'"):
        import_pywr(data)
    data["timestepper"]["timestep"] = 7
    with pytest.raises(PywrImportError, match="only daily steps"):
        import_pywr(data)


def _pywr_flows(name: str, n: int) -> dict[str, list[float]]:
    """Output flows and Storage volumes of a shared model over ``n`` steps, run by Pywr itself."""
    from pywr.model import Model
    from pywr.nodes import Output, Storage

    model = Model.load(str(SHARED / f"{name}.json"))
    model.setup()
    rec: dict[str, list[float]] = {}
    for _ in range(n):
        model.step()
        for node in model.nodes:
            if node.parent is None and isinstance(node, Output | Storage):
                value = node.flow[0] if isinstance(node, Output) else node.volume[0]
                rec.setdefault(node.name, []).append(float(value))
    return rec


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/pywr-models absent (fresh clone)")
@pytest.mark.parametrize("name", COMPARED)
def test_flows_match_pywr(name: str) -> None:
    """Live Pywr when installed (pywr==1.31.1), else its recorded flows (tests/data/allocation/SOURCES.md)."""
    try:
        reference = _pywr_flows(name, N_STEPS)
    except ImportError:
        reference = json.loads((DATA / "pywr_reference_flows.json").read_text())[name]
    result = allocate(load_pywr(SHARED / f"{name}.json", n_steps=N_STEPS))
    for node, ref in reference.items():
        if node in result.delivered_m3:
            got = result.delivered_m3[node]
        elif node in result.storage_m3:
            got = result.storage_m3[node]
        else:  # an outlet: what reaches it
            got = result.link_flow_m3[[c for c in result.link_flow_m3 if c.endswith(f"->{node}")]].sum(axis=1)
        np.testing.assert_allclose(got.to_numpy(), ref, atol=1e-6, err_msg=f"{name}: {node}")
