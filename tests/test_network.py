"""EPANET import through WNTR, zones from boundary links or a node file, GeoJSON."""

import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import NETWORKS
from suvar.network.epanet import NetworkError, import_network
from suvar.network.geojson import network_geojson
from suvar.network.zones import ZoneError, apply_zones
from suvar.store import DuckStore

LTOWN_BOUNDARY = pd.DataFrame(
    [("A", "p227", "inlet"), ("A", "p235", "inlet"), ("A", "PUMP_1", "outlet"), ("A", "PRV-3", "outlet"),
     ("B", "PRV-3", "inlet"), ("C", "p239", "inlet")], columns=["zone_id", "link_id", "role"])


def test_ltown_import(store: DuckStore) -> None:
    # L-Town v1.2 (BattLeDIM 2020): 782 junctions, 905 pipes of 43.2 km, 1 pump, 3 valves, 2 reservoirs, 1 tank.
    t0 = time.perf_counter()
    summary = import_network(store, NETWORKS / "L-TOWN.inp", "ltown")
    assert time.perf_counter() - t0 < 30
    assert (summary["junctions"], summary["pipes"], summary["pumps"], summary["valves"]) == (782, 905, 1, 3)
    assert (summary["reservoirs"], summary["tanks"]) == (2, 1)
    assert summary["mains_length_km"] == pytest.approx(43.2, abs=0.1)
    nodes = store.nodes("ltown").set_index("node_id")
    assert nodes.loc["n1", "x"] is not None and nodes["elevation_m"].notna().all()
    links = store.links("ltown").set_index("link_id")
    assert links.loc["p227", ["start_node", "end_node"]].tolist() == ["R1", "n303"]


def test_net6_import(store: DuckStore) -> None:
    summary = import_network(store, NETWORKS / "Net6.inp", "net6")
    assert summary["junctions"] > 3000 and summary["pipes"] > 3000


def test_zones_from_boundary_links(store: DuckStore) -> None:
    import_network(store, NETWORKS / "L-TOWN.inp", "ltown")
    assert apply_zones(store, "ltown", boundary=LTOWN_BOUNDARY) == ["A", "B", "C"]
    zones = store.zones("ltown").set_index("zone_id")
    # Every junction belongs to one of the three BattLeDIM areas; the tank T1 lies between A and C.
    assert zones["node_count"].sum() == 782
    assert zones.loc["B", "node_count"] == 31
    assert store.nodes("ltown").set_index("node_id").loc["T1", "zone_id"] is None
    assert zones["mains_length_km"].sum() == pytest.approx(43.2, abs=0.3)


def test_zone_errors_name_the_problem(store: DuckStore, tmp_path: Path) -> None:
    import_network(store, NETWORKS / "L-TOWN.inp", "ltown")
    leaky = LTOWN_BOUNDARY[LTOWN_BOUNDARY["link_id"] != "PRV-3"]
    bad = pd.concat([leaky, pd.DataFrame([("B", "p1", "inlet")], columns=leaky.columns)])
    with pytest.raises(ZoneError, match="both claim"):
        apply_zones(store, "ltown", boundary=bad)
    with pytest.raises(ZoneError, match="not in the network: nope"):
        apply_zones(store, "ltown", boundary=pd.DataFrame([("A", "nope", "inlet")], columns=leaky.columns))
    node_file = tmp_path / "zones.csv"
    node_file.write_text("node_id,zone\nn1,Z1\nn999999,Z1\n")
    with pytest.raises(ZoneError, match="unknown node.*n999999"):
        apply_zones(store, "ltown", node_file=node_file)
    node_file.write_text("node_id,zone\nn1,Z1\nn2,\n")
    with pytest.raises(ZoneError, match="line 3: empty zone"):
        apply_zones(store, "ltown", node_file=node_file)


def test_zones_from_node_file(store: DuckStore, tmp_path: Path) -> None:
    import_network(store, NETWORKS / "Hanoi_CMH.inp", "hanoi")
    f = tmp_path / "zones.csv"
    f.write_text("node_id,zone\n" + "".join(f"{n},{'N' if int(n) < 16 else 'S'}\n" for n in range(2, 33)))
    assert apply_zones(store, "hanoi", node_file=f) == ["N", "S"]
    assert store.zones("hanoi")["node_count"].tolist() == [14, 17]


def test_bad_inp_file(store: DuckStore, tmp_path: Path) -> None:
    bad = tmp_path / "bad.inp"
    bad.write_text("[JUNCTIONS]\nJ1 abc\n[END]\n")
    with pytest.raises(NetworkError, match="bad.inp: not a valid EPANET"):
        import_network(store, bad, "x")
    with pytest.raises(NetworkError, match="no such EPANET file"):
        import_network(store, tmp_path / "missing.inp", "x")


def test_geojson(store: DuckStore) -> None:
    import_network(store, NETWORKS / "L-TOWN.inp", "ltown")
    apply_zones(store, "ltown", boundary=LTOWN_BOUNDARY)
    geo = network_geojson(store.nodes("ltown"), store.links("ltown"))
    layers = pd.Series([f["properties"]["layer"] for f in geo["features"]]).value_counts()
    assert layers["node"] == 785 and layers["link"] == 909 and layers["zone"] == 3
    zone_a = next(f for f in geo["features"] if f["properties"]["layer"] == "zone" and f["properties"]["id"] == "A")
    ring = zone_a["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) > 4


def test_sensor_csv_import(store: DuckStore, tmp_path: Path) -> None:
    from suvar.network.registry import RegistryError, import_sensors

    import_network(store, NETWORKS / "L-TOWN.inp", "ltown")
    apply_zones(store, "ltown", boundary=LTOWN_BOUNDARY)
    good = tmp_path / "sensors.csv"
    good.write_text("sensor_id,utility_id,kind,unit,node_id,link_id,connection_id,customer_class,billed\n"
                    "P1,ltown,pressure,bar,n1,,,,\n"
                    "F1,ltown,flow,L/s,,p227,,,\n"
                    "M1,ltown,volume,m3,n5,,C-5,residential,yes\n")
    assert import_sensors(store, good) == 3
    sensors = store.sensors("ltown").set_index("sensor_id")
    node_zone = store.nodes("ltown").set_index("node_id")["zone_id"]
    assert sensors.loc["P1", "zone_id"] == node_zone["n1"] == "C"  # filled from the node's zone
    assert sensors.loc["F1", "zone_id"] is None  # p227 is a boundary link, in no zone
    assert bool(sensors.loc["M1", "billed"]) is True
    bad = tmp_path / "bad.csv"
    bad.write_text("sensor_id,utility_id,kind,unit,node_id\nP2,ltown,pressure,m,n1\nP3,ltown,pressure,m,nowhere\n")
    with pytest.raises(RegistryError, match=r"bad.csv, line 3: node 'nowhere' is not in utility 'ltown'"):
        import_sensors(store, bad)
    bad.write_text("sensor_id,utility_id,kind,unit\nP4,ltown,pressure,furlong/fortnight\n")
    with pytest.raises(RegistryError, match="line 2: unit"):
        import_sensors(store, bad)
