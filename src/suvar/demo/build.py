"""The demo country: two utilities built from public networks, simulated with WNTR, ingested like real data.

* **Lakeside Town** (``ltown``): L-Town of BattLeDIM 2020, zones A, B and C from their metered boundary links,
  the BattLeDIM sensor set (33 pressures, inlet flows, tank level), AMR meters at 82 customers, written in the
  BattLeDIM wide layout and read back through that reader.
* **Capital City** (``capital``): EPANET Net3, split into two DMAs by a deterministic graph bisection whose
  crossing pipes become the zone meters, written in the long CSV layout.

Each customer (a junction with demand) is a service connection with monthly billing: meters under-register by
4 %, a few connections are unbilled (public buildings) or unmetered (flat rate), and a few consumers are not
customers at all (unauthorised use). Leaks are emitters switched on during the run. Sensor faults are planted:
gaps, spikes, a stuck sensor and malformed rows, so that quarantine and data grading have something to show.
The country's river basin (``suvar.demo.basin``) adds weather, irrigation districts, a drought-year allocation
published to the ledger and a delivery audit. Everything is seeded: two builds give the same store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import wntr

from suvar.alarms import drought_alarms
from suvar.balance.refresh import refresh_zone_balances
from suvar.demo.basin import build_demo_basin
from suvar.leaks.detect import LeakEvent
from suvar.leaks.scan import scan_utility
from suvar.leaks.survey import survey_alarm
from suvar.network.epanet import import_network
from suvar.network.hydraulics import Leak, simulate
from suvar.network.registry import check_sensors
from suvar.network.zones import apply_zones
from suvar.progress import throttled
from suvar.security.users import DEMO_USER, create_demo_user, demo_login_path
from suvar.store import Store
from suvar.telemetry.ingest import ingest_file
from suvar.telemetry.quality import scan_data_quality

START = pd.Timestamp("2026-10-01T00:00:00Z")
NETWORKS = files("suvar") / "data" / "networks"
#: BattLeDIM 2020 pressure sensors on L-Town.
LTOWN_PRESSURE_NODES = [
    "n1", "n4", "n31", "n54", "n105", "n114", "n163", "n188", "n215", "n229", "n288", "n296", "n332", "n342",
    "n410", "n415", "n429", "n458", "n469", "n495", "n506", "n516", "n519", "n549", "n613", "n636", "n644",
    "n679", "n722", "n726", "n740", "n752", "n769",
]
#: Lakeside Town's zones by their metered boundary links: A fed from the reservoirs, B behind PRV-3, C from tank T1.
LTOWN_BOUNDARY = pd.DataFrame(
    [("A", "p227", "inlet"), ("A", "p235", "inlet"), ("A", "PUMP_1", "outlet"), ("A", "PRV-3", "outlet"),
     ("B", "PRV-3", "inlet"), ("C", "p239", "inlet")], columns=["zone_id", "link_id", "role"])
UNDER_REGISTRATION = 0.04
TARIFF_PER_M3 = 0.9


@dataclass(frozen=True)
class UtilitySpec:
    utility_id: str
    name: str
    kind: str
    inp: str
    step_s: int
    leaks: tuple[Leak, ...]


def demo_specs(days: int) -> list[UtilitySpec]:
    d = 86400
    return [
        UtilitySpec("ltown", "Lakeside Town", "town", "L-TOWN.inp", 300, (
            Leak("p257", min(9, days - 2) * d + 10 * 3600 + 40 * 60, 0.014),
            Leak("p654", min(18, days - 1) * d + 3 * 3600 + 5 * 60, 0.011),
        )),
        UtilitySpec("capital", "Capital City", "city", "Net3.inp", 900, (
            Leak("101", min(14, days - 1) * d, 0.012),
        )),
    ]


def build_demo(
    store: Store, *, days: int = 28, workdir: str | Path = "var/demo",
    progress: Callable[[str], None] = lambda _m: None, cache_dir: str | Path | None = None,
) -> dict[str, object]:
    """Build the demo country into ``store``; returns a summary of what was built and ingested. ``cache_dir``
    keeps the leak scan's simulated signatures (``SUVAR_CACHE_DIR``)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261001)
    summary: dict[str, object] = {"start": START.isoformat(), "days": days, "utilities": {}}
    for spec in demo_specs(days):
        inp = Path(str(NETWORKS / spec.inp))
        info = import_network(store, inp, spec.utility_id, name=spec.name, kind=spec.kind, country="Demo Republic",
                              model_start=START)  # the simulation below starts the patterns at START
        wn = wntr.network.WaterNetworkModel(str(inp))
        wn.options.time.hydraulic_timestep = spec.step_s
        wn.options.time.report_timestep = spec.step_s
        wn.options.time.pattern_timestep = max(int(wn.options.time.pattern_timestep), spec.step_s)
        zones = _zones(store, spec, wn)
        progress(f"{spec.name}: network {info['junctions']} junctions, {info['pipes']} pipes, zones {zones}")

        def tick(done: int, total: int, name: str = spec.name) -> None:
            progress(f"{name}: simulated {done / 86400:.1f} of {total / 86400:.0f} days")

        res = simulate(wn, days * 86400, leaks=spec.leaks, chunk_s=86400, progress=tick)
        if spec.utility_id == "ltown":
            ltown_pressure = res["pressure"][wn.junction_name_list]  # every junction: where loggers may go
        sensors, connections = _registry(store, spec, wn, rng)
        store.upsert_sensors(check_sensors(sensors, store, f"demo:{spec.utility_id}"))
        store.upsert_connections(connections)
        store.upsert_billing(_billing(res, connections, days, rng))
        out = workdir / spec.utility_id
        out.mkdir(exist_ok=True)
        if spec.utility_id == "ltown":
            _write_battledim(res, sensors, out, rng)
            counts = ingest_file(store, out, fmt="battledim", utility_id=spec.utility_id)
        else:
            path = _write_long(res, sensors, out / "readings.csv", rng)
            counts = ingest_file(store, path)
        progress(f"{spec.name}: ingested {counts.as_dict()}")
        summary["utilities"][spec.utility_id] = {
            **info, "zones": zones, "sensors": len(sensors), "connections": len(connections),
            "leaks": [{"pipe": lk.pipe_id, "start": (START + pd.Timedelta(seconds=lk.start_s)).isoformat(),
                       "diameter_m": lk.diameter_m} for lk in spec.leaks],
            "ingest": counts.as_dict(),
        }
    progress("Demo river basin: weather, crops, drought scenario, allocation, ledger, delivery audit")
    summary["basin"] = build_demo_basin(workdir / "basin", store)
    for record in drought_alarms(pd.DataFrame(summary["basin"]["drought_status_dry_year"])):
        store.raise_alarm(record)
    for utility_id in summary["utilities"]:
        faults = scan_data_quality(store, utility_id)
        summary["utilities"][utility_id]["sensor_faults"] = len(faults)
    progress("Every zone: daily and monthly water balances")
    summary["zone_balances"] = refresh_zone_balances(store)
    if days >= 14:  # a week to learn from, a week or more to watch
        progress("Lakeside Town: scanning SCADA telemetry for leaks (the first scan simulates a leak on every pipe "
                 "it searches: minutes)")
        events = scan_utility(store, "ltown", train_days=7, cache_dir=cache_dir,
                              progress=throttled(progress, "Lakeside Town: leak scan", every_s=30))
        summary["utilities"]["ltown"]["leak_alarms"] = [e.as_dict() for e in events]
        progress("Lakeside Town: temporary pressure loggers at the leak alarms' logger sites; logger surveys")
        summary["utilities"]["ltown"]["logger_surveys"] = logger_surveys(
            store, ltown_pressure, events, workdir / "ltown" / "loggers.csv", rng, cache_dir)
    password = create_demo_user(store)  # no default passwords: a random one, shown once and kept in a 0600 file
    if password:
        summary["login"] = {"username": DEMO_USER, "file": str(demo_login_path(store))}
        progress(f"Demo login: user {DEMO_USER}, password {password} (kept in {demo_login_path(store)}, mode 0600)")
    return summary


def logger_surveys(store: Store, pressure_m: pd.DataFrame, events: list[LeakEvent], path: Path,
                   rng: np.random.Generator, cache_dir: str | Path | None, install_hour: int = 10
                   ) -> list[dict[str, object]]:
    """A crew installs temporary pressure loggers at ``install_hour`` the day after each leak alarm, at the
    junctions it names (``evidence["logger_sites"]``); they report every 5 minutes until the end of the run
    (``pressure_m``, the simulated pressure by junction and second of the run, written to ``path`` and ingested).
    Each such alarm is then localised again with them (:func:`suvar.leaks.survey.survey_alarm`); returns the
    surveys."""
    installed: dict[str, pd.Timestamp] = {}
    for event in events:
        for node in (event.evidence.get("logger_sites") or {}).get("nodes", []):
            alarmed = pd.Timestamp(event.alarm_time)
            alarmed = alarmed.tz_localize("UTC") if alarmed.tzinfo is None else alarmed
            at = alarmed.floor("D") + pd.Timedelta(days=1, hours=install_hour)
            installed[node] = min(at, installed.get(node, at))
    if not installed:
        return []
    sensors = pd.DataFrame([{"sensor_id": f"ltown-P-{n}", "kind": "pressure", "unit": "m", "node_id": n,
                             "description": f"temporary pressure logger, installed {at:%Y-%m-%d %H:%M}"}
                            for n, at in installed.items()]).assign(utility_id="ltown")
    store.upsert_sensors(check_sensors(sensors, store, "demo:ltown loggers"))
    when = START + pd.to_timedelta(pressure_m.index, unit="s")
    rows = []
    for node, at in installed.items():
        on = when >= at
        values = pressure_m[node].to_numpy()[on] + rng.normal(0, 0.05, int(on.sum()))
        rows.append(pd.DataFrame({"sensor_id": f"ltown-P-{node}", "timestamp": when[on].strftime(
            "%Y-%m-%dT%H:%M:%SZ"), "value": np.round(values, 4)}))
    pd.concat(rows).to_csv(path, index=False)
    ingest_file(store, path)
    surveys = []
    alarms = store.alarms(kind="leak", scope="ltown")
    for alarm_id, detail in zip(alarms["alarm_id"], alarms["detail"], strict=True):
        if "logger_sites" in json.loads(detail).get("evidence", {}):
            try:
                surveys.append({"alarm_id": int(alarm_id), **survey_alarm(store, int(alarm_id), cache_dir=cache_dir)})
            except ValueError as exc:  # e.g. an alarm on the run's last day: no whole day of logger readings
                surveys.append({"alarm_id": int(alarm_id), "skipped": str(exc)})
    return surveys


def _zones(store: Store, spec: UtilitySpec, wn: wntr.network.WaterNetworkModel) -> list[str]:
    if spec.utility_id == "ltown":
        return apply_zones(store, spec.utility_id, boundary=LTOWN_BOUNDARY)
    # Capital City: bisect the distribution graph (sources and their links left out) into two DMAs.
    graph = wn.to_graph().to_undirected()
    sources = set(wn.reservoir_name_list)
    dist = nx.Graph(graph.subgraph([n for n in graph if n not in sources]))
    north, south = nx.algorithms.community.kernighan_lin_bisection(dist, seed=7, max_iter=50)
    zone_of = {n: "NORTH" for n in north} | {n: "SOUTH" for n in south}
    rows = []
    for name, link in wn.links():
        a, b = zone_of.get(link.start_node_name), zone_of.get(link.end_node_name)
        if a != b:
            if b:
                rows.append((b, name, "inlet"))
            if a:
                rows.append((a, name, "outlet"))
    boundary = pd.DataFrame(rows, columns=["zone_id", "link_id", "role"])
    node_zone = pd.DataFrame(sorted(zone_of.items()), columns=["node_id", "zone_id"])
    store.set_zones(spec.utility_id, node_zone, boundary)
    return ["NORTH", "SOUTH"]


def _registry(store: Store, spec: UtilitySpec, wn: wntr.network.WaterNetworkModel, rng: np.random.Generator
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    u = spec.utility_id
    nodes = store.nodes(u)
    boundary = store.boundary_links(u)
    rows = []
    if u == "ltown":
        pressure_nodes = LTOWN_PRESSURE_NODES
    else:
        junctions = nodes[nodes["node_type"] == "Junction"]["node_id"].tolist()
        pressure_nodes = sorted(rng.choice(junctions, size=10, replace=False).tolist())
    for n in pressure_nodes:
        rows.append({"sensor_id": f"{u}-P-{n}", "kind": "pressure", "unit": "m", "node_id": n})
    for link in sorted(set(boundary["link_id"])):
        rows.append({"sensor_id": f"{u}-F-{link}", "kind": "flow", "unit": "m3/h", "link_id": link,
                     "description": "zone boundary meter"})
    for tank in wn.tank_name_list:
        rows.append({"sensor_id": f"{u}-L-{tank}", "kind": "level", "unit": "m", "node_id": tank})
    customers = nodes[(nodes["node_type"] == "Junction") & (nodes["base_demand_m3h"] > 0)].reset_index(drop=True)
    n = len(customers)
    roll = rng.random(n)
    connections = pd.DataFrame({
        "utility_id": u,
        "connection_id": [f"{u}-C-{x}" for x in customers["node_id"]],
        "node_id": customers["node_id"],
        "zone_id": customers["zone_id"],
        "customer_class": np.where(roll < 0.85, "residential", np.where(roll < 0.97, "commercial", "public")),
        "persons": rng.integers(2, 6, n),
        "metered": rng.random(n) > 0.02,
    })
    illegal = rng.random(n) < 0.01  # consumers that are nobody's customer: unauthorised consumption
    connections = connections[~illegal].reset_index(drop=True)
    n_amr = 82 if u == "ltown" else 20
    metered = connections[connections["metered"]]
    amr = metered.iloc[np.sort(rng.choice(len(metered), size=min(n_amr, len(metered)), replace=False))]
    for c in amr.itertuples(index=False):
        unit, kind = ("L/h", "flow") if u == "ltown" else ("m3", "volume")
        rows.append({"sensor_id": f"{u}-M-{c.node_id}", "kind": kind, "unit": unit, "node_id": c.node_id,
                     "connection_id": c.connection_id, "customer_class": c.customer_class,
                     "billed": c.customer_class != "public", "description": "AMR customer meter"})
    sensors = pd.DataFrame(rows).assign(utility_id=u)
    return sensors, connections


def _billing(res: dict[str, pd.DataFrame], connections: pd.DataFrame, days: int, rng: np.random.Generator
             ) -> pd.DataFrame:
    demand = res["demand"]
    step = float(demand.index[1] - demand.index[0])
    true_m3 = demand.clip(lower=0).sum() * step  # m³/s × s
    volume = true_m3.reindex(connections["node_id"]).to_numpy()
    metered = connections["metered"].to_numpy()
    billed = (connections["customer_class"] != "public").to_numpy()
    recorded = np.where(metered, volume * (1 - UNDER_REGISTRATION), volume * rng.uniform(0.7, 0.9, len(volume)))
    return pd.DataFrame({
        "utility_id": connections["utility_id"],
        "connection_id": connections["connection_id"],
        "period_start": START.date(),
        "period_end": (START + pd.Timedelta(days=days - 1)).date(),
        "volume_m3": np.round(recorded, 3),
        "metered": metered,
        "billed": billed,
        "amount": np.where(billed, np.round(recorded * TARIFF_PER_M3, 2), 0.0),
    })


def _scada(res: dict[str, pd.DataFrame], sensors: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Wide frame (UTC timestamps x sensor ids) of what the devices report, with noise and planted faults."""
    cols = {}
    for s in sensors.itertuples(index=False):
        if s.kind == "pressure":
            cols[s.sensor_id] = res["pressure"][s.node_id] + rng.normal(0, 0.05, len(res["pressure"]))
        elif s.kind == "level":
            cols[s.sensor_id] = res["level"][s.node_id] + rng.normal(0, 0.005, len(res["level"]))
        elif s.kind == "flow" and pd.isna(s.connection_id):
            q = res["flowrate"][s.link_id] * 3600
            cols[s.sensor_id] = q * (1 + rng.normal(0, 0.005, len(q)))
        elif s.kind == "flow":  # AMR in L/h
            cols[s.sensor_id] = res["demand"][s.node_id].clip(lower=0) * 3.6e6 * (1 - UNDER_REGISTRATION)
        else:  # AMR interval volume, m³ per step
            step = float(res["demand"].index[1] - res["demand"].index[0])
            cols[s.sensor_id] = res["demand"][s.node_id].clip(lower=0) * step * (1 - UNDER_REGISTRATION)
    wide = pd.DataFrame(cols)
    wide.index = START + pd.to_timedelta(wide.index, unit="s")
    wide = wide.astype(float).round(4)
    pressure = [c for c in wide.columns if "-P-" in c]
    per_day = int(round(86400 / (wide.index[1] - wide.index[0]).total_seconds()))
    # planted faults
    days = len(wide) // per_day
    gap_day, stuck_day = min(5, days // 2), min(12, days - 1)
    gap = pressure[4]
    wide.iloc[gap_day * per_day: gap_day * per_day + per_day // 4, wide.columns.get_loc(gap)] = np.nan  # 6 h gap
    stuck = pressure[8]
    rows = slice(stuck_day * per_day, (stuck_day + 1) * per_day)
    wide.iloc[rows, wide.columns.get_loc(stuck)] = wide[stuck].iloc[stuck_day * per_day]  # stuck for a day
    spikes = rng.choice(len(wide), size=6, replace=False)
    for k, i in enumerate(spikes):
        wide.iat[i, wide.columns.get_loc(pressure[k % len(pressure)])] = 999.0  # impossible: > 250 m
    return wide


def _write_battledim(res: dict[str, pd.DataFrame], sensors: pd.DataFrame, out: Path, rng: np.random.Generator
                     ) -> None:
    wide = _scada(res, sensors, rng)
    stamp = wide.index.tz_convert(None).strftime("%Y-%m-%d %H:%M:%S")
    meta = sensors.set_index("sensor_id")
    groups = {
        "Pressures.csv": (meta["kind"] == "pressure", "node_id"),
        "Flows.csv": ((meta["kind"] == "flow") & meta["connection_id"].isna(), "link_id"),
        "Levels.csv": (meta["kind"] == "level", "node_id"),
        "Demands.csv": ((meta["kind"] == "flow") & meta["connection_id"].notna(), "node_id"),
    }
    for name, (mask, loc) in groups.items():
        ids = meta.index[mask]
        frame = wide[ids].copy()
        frame.columns = meta.loc[ids, loc].tolist()
        text = frame.map(lambda v: "" if math.isnan(v) else f"{v:.4f}".replace(".", ","))
        text.insert(0, "Timestamp", stamp)
        text.to_csv(out / name, sep=";", index=False)


def _write_long(res: dict[str, pd.DataFrame], sensors: pd.DataFrame, path: Path, rng: np.random.Generator
                ) -> Path:
    wide = _scada(res, sensors, rng)
    long = wide.stack().rename("value").reset_index()
    long.columns = ["timestamp", "sensor_id", "value"]
    long["timestamp"] = long["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    long = long[["sensor_id", "timestamp", "value"]]
    long["value"] = long["value"].map(lambda v: f"{v:.6g}")
    long.to_csv(path, index=False)
    first = sensors["sensor_id"].iloc[0]
    with path.open("a") as fh:  # rows a real feed sends now and then
        fh.write(f"{first},2026-10-02T00:00:00Z,n/a\n")
        fh.write(f"{first},2026-10-02 00:05:00,51.2\n")
        fh.write(f"{first},2026-10-02T00:10:00Z,5.1,furlongs per fortnight\n")
        fh.write("NO-SUCH-SENSOR,2026-10-02T00:00:00Z,1.0\n")
        fh.write(f"{first};2026-10-02T00:15:00Z;51.0\n")
    return path

