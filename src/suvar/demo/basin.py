"""The demo country's river basin: weather and crops drive irrigation demand, drought sets the inflow, the plan
is published to the ledger, and a delivery audit catches a planted favoured user.

The chain, every step through the platform's own modules:

1. a 10-year daily record of a semi-arid lowland station (``agri.weather``), its SPI-12 and drought status
   (``agri.drought``, WMO classes), and the driest water year as the drought scenario's inflow factor;
2. two irrigation districts with their crops (``agri.irrigation``): FAO-56 ET0 and Kc give their monthly demand
   in the dry year;
3. the basin (``allocation.model``): a dam on the river, the two cities of the demo, a refinery, the delta
   wetland with a minimum environmental flow, and the two districts; allocated month by month at normal and at
   drought inflow (``allocation.scenario``) with equal coverage within each priority class;
4. the drought plan with its explanations, published to a hash-chained ledger and verified (``ledger``);
5. metered deliveries, ingested through the telemetry pipeline from each user's turnout meter, in which the
   left-bank district quietly took 15 % more than its share from the right bank, and the audit that names it
   (``allocation.audit``);
6. the yield and revenue the districts lose to the shortfall (FAO-33, ``agri.yield_response``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from suvar.agri.drought import classify_spi, drought_status, inflow_scenarios, spi
from suvar.agri.et0 import et0_daily
from suvar.agri.irrigation import district_demand_m3_per_day, district_from_dict
from suvar.agri.weather import synthetic_weather
from suvar.agri.yield_response import district_yield_impact
from suvar.allocation.audit import delivery_audit, plan_totals
from suvar.allocation.explain import explain, plan_record
from suvar.allocation.model import basin_sha256, parse_basin
from suvar.allocation.report import allocation_report_html
from suvar.allocation.scenario import compare_users, run_scenarios
from suvar.ledger import DatabaseLedgerStore, JsonlLedgerStore, append, verify
from suvar.store import DuckStore, Store
from suvar.telemetry.ingest import ingest_batch
from suvar.telemetry.readers import read_records

LATITUDE_DEG, ELEVATION_M = 40.4, 20.0
RECORD_START, RECORD_YEARS = "2016-01-01", 10
DISTRICTS = [
    {"name": "left_bank", "application_efficiency": 0.6, "conveyance_efficiency": 0.8, "fields": [
        {"name": "left cotton", "crop": "cotton", "area_ha": 9000, "planting": "04-15"},
        {"name": "left maize", "crop": "maize", "area_ha": 4000, "planting": "04-20"}]},
    {"name": "right_bank", "application_efficiency": 0.65, "conveyance_efficiency": 0.8, "fields": [
        {"name": "right cotton", "crop": "cotton", "area_ha": 6000, "planting": "04-15"},
        {"name": "right tomato", "crop": "tomato", "area_ha": 3000, "planting": "04-20"}]},
]
#: Farm-gate economics per crop: maximum yield t/ha and price per t (local currency).
ECONOMICS = {"cotton": {"max_yield_t_per_ha": 3.5, "price_per_t": 900.0},
             "maize": {"max_yield_t_per_ha": 9.0, "price_per_t": 230.0},
             "tomato": {"max_yield_t_per_ha": 60.0, "price_per_t": 150.0}}
#: Normal monthly river inflow, m³ (snow-melt peak in spring).
NORMAL_INFLOW_M3 = [40e6, 45e6, 70e6, 110e6, 130e6, 90e6, 50e6, 30e6, 25e6, 30e6, 35e6, 40e6]
FAVOURED, VICTIM, GAIN = "left_bank", "right_bank", 0.15


def basin_model(year: int, irrigation_m3: dict[str, list[float]]) -> dict:
    """The demo basin for one calendar year at monthly steps, volumes in m³ per month."""
    demands = [
        {"id": "ltown", "kind": "city", "demand_m3": 0.35e6, "priority": 1, "body": "lakeside-town",
         "minimum_vital_m3": 0.15e6},
        {"id": "capital", "kind": "city", "demand_m3": 6.0e6, "priority": 1, "body": "capital-city",
         "minimum_vital_m3": 3.0e6},
        {"id": "refinery", "kind": "industry", "demand_m3": 2.0e6, "priority": 2, "body": "lower-district"},
        {"id": "delta_wetland", "kind": "environment", "demand_m3": 8.0e6, "priority": 2, "body": "river-authority"},
    ]
    for name, series in sorted(irrigation_m3.items()):
        demands.append({"id": name, "kind": "irrigation", "demand_m3": series, "priority": 3,
                        "entitlement_m3": float(np.max(series)), "body": f"{name.replace('_', '-')}-wua"})
    return {
        "name": "demo river", "time_step": "month", "start": f"{year}-01-01", "n_steps": 12,
        "catchments": [{"id": "upper_river", "inflow_m3": NORMAL_INFLOW_M3}],
        "reservoirs": [{"id": "dam", "capacity_m3": 800e6, "dead_storage_m3": 100e6, "initial_storage_m3": 300e6,
                        "evaporation_m3": [1e6, 1e6, 2e6, 3e6, 4e6, 6e6, 7e6, 7e6, 5e6, 3e6, 2e6, 1e6],
                        "carry_over_target_m3": 150e6, "carry_over_priority": 3}],
        "junctions": [{"id": "barrage"}, {"id": "lower_river"}],
        "outlets": [{"id": "sea"}],
        "links": [
            {"id": "dam_inflow", "from": "upper_river", "to": "dam", "kind": "river"},
            {"id": "dam_release", "from": "dam", "to": "barrage", "kind": "river", "loss_fraction": 0.02},
            {"id": "town_main", "from": "barrage", "to": "ltown", "kind": "pipe", "loss_fraction": 0.05},
            {"id": "capital_main", "from": "barrage", "to": "capital", "kind": "pipe", "capacity_m3": 8e6,
             "loss_fraction": 0.05},
            {"id": "left_canal", "from": "barrage", "to": "left_bank", "kind": "canal", "capacity_m3": 60e6},
            {"id": "right_canal", "from": "barrage", "to": "right_bank", "kind": "canal", "capacity_m3": 45e6},
            {"id": "river_reach", "from": "barrage", "to": "lower_river", "kind": "river", "loss_fraction": 0.05,
             "min_flow_m3": 4e6},
            {"id": "refinery_intake", "from": "lower_river", "to": "refinery", "kind": "pipe"},
            {"id": "wetland_feed", "from": "lower_river", "to": "delta_wetland", "kind": "canal",
             "loss_fraction": 0.1},
            {"id": "to_sea", "from": "lower_river", "to": "sea", "kind": "river"},
        ],
        "demands": demands,
        "sharing": {1: "equal_coverage", 2: "equal_coverage", 3: "equal_coverage"},
    }


def metered_deliveries(store: Store, plan: dict, utility_id: str = "demo-river") -> pd.Series:
    """The turnout meters' record of what each user took, through the telemetry pipeline; returns m³ per user.

    Each user's turnout is a volume meter (``<utility>-D-<user>``, m³ per month) registered in the store. The
    deliveries follow the plan, except that the favoured district quietly takes ``GAIN`` more of its share
    each month, and that volume is missing at the victim's turnout. They are ingested like any telemetry,
    then read back from the store.
    """
    store.upsert_utility(utility_id, "Demo River Basin Authority", kind="basin")
    users = sorted(plan["users"])
    store.upsert_sensors(pd.DataFrame({
        "sensor_id": [f"{utility_id}-D-{u}" for u in users], "utility_id": utility_id, "kind": "volume",
        "unit": "m3", "description": [f"turnout meter of {u}" for u in users]}))
    records = []
    for i, date in enumerate(plan["dates"]):
        moved = GAIN * plan["users"][FAVOURED]["allocation_m3"][i]
        for u in users:
            volume = plan["users"][u]["allocation_m3"][i] + (moved if u == FAVOURED else -moved if u == VICTIM else 0)
            records.append({"sensor_id": f"{utility_id}-D-{u}", "timestamp": f"{date}T00:00:00Z", "value": volume})
    ingest_batch(store, read_records(records, "turnouts"), "turnouts")
    readings = store.series([f"{utility_id}-D-{u}" for u in users],
                            plan["dates"][0], pd.Timestamp(plan["dates"][-1]) + pd.Timedelta(days=31))
    return readings.groupby("sensor_id")["value"].sum().rename(lambda sid: sid.removeprefix(f"{utility_id}-D-"))


def build_demo_basin(workdir: str | Path, store: Store | None = None) -> dict:
    """Run the whole chain (module docstring) and write its files to ``workdir``; returns a summary. Metered
    deliveries go through ``store`` (an in-memory one when not given)."""
    out = Path(workdir)
    out.mkdir(parents=True, exist_ok=True)
    weather = synthetic_weather(RECORD_START, RECORD_YEARS, seed=7, latitude_deg=LATITUDE_DEG,
                                elevation_m=ELEVATION_M)
    weather.to_csv(out / "weather_station.csv")
    precip = weather["precip_mm"]
    spi12 = spi(precip.resample("MS").sum(), scales=(12,))
    status = drought_status(spi12.rename(columns={spi12.columns[0]: "demo river"}))
    scenarios = inflow_scenarios(precip)
    dry_year = int(scenarios.loc["driest_year", "water_year"])
    factor = float(scenarios.loc["driest_year", "inflow_scale"])
    season = weather.loc[f"{dry_year}-01-01":f"{dry_year}-12-31"]
    et0 = et0_daily(season, LATITUDE_DEG, ELEVATION_M)["et0_mm"]
    districts = {d["name"]: district_from_dict(d, f"demo district {d['name']}") for d in DISTRICTS}
    daily_demand = {n: district_demand_m3_per_day(d, et0, season["precip_mm"]) for n, d in districts.items()}
    monthly = {n: s.groupby(s.index.month).sum().reindex(range(1, 13), fill_value=0.0).round(0).tolist()
               for n, s in daily_demand.items()}
    model = basin_model(dry_year, monthly)
    (out / "basin.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    basin = parse_basin(model, "demo basin")
    results = run_scenarios(basin, {"normal": 1.0, "drought": factor})
    comparison = compare_users(results)
    comparison.to_csv(out / "scenarios.csv")
    drought = results["drought"]
    explain(drought).to_csv(out / "drought_plan_explained.csv", index=False)
    plan = plan_record(drought, basin_sha256(basin), scenario="drought")
    (out / "drought_plan.json").write_text(json.dumps(plan, indent=1))
    ledger = JsonlLedgerStore(out / "ledger.jsonl")
    if ledger.path.exists():
        ledger.path.unlink()
    entry = append(ledger, {"kind": "allocation_plan", "author": "basin commission (demo)", "plan": plan})
    verified = verify(ledger)

    if store is not None:  # the platform's own ledger, which the panel and the API read
        published = DatabaseLedgerStore(store, "allocation")
        for name, result in results.items():
            append(published, {"kind": "allocation_plan", "author": "basin commission (demo)",
                               "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "plan": plan_record(result, basin_sha256(basin), scenario=name)})

    totals = plan_totals(plan)
    metered = metered_deliveries(store or DuckStore(":memory:"), plan)
    audit = delivery_audit(totals, metered)
    audit.users.to_csv(out / "delivery_audit_users.csv")
    audit.transfers.to_csv(out / "delivery_audit_transfers.csv", index=False)

    days_in_month = pd.Series(et0.index.days_in_month, index=et0.index)
    yields = pd.concat([
        district_yield_impact(
            district, et0, season["precip_mm"],
            # the month's allocation spread evenly over its days, m³/day
            pd.Series(drought.delivered_m3[name].to_numpy()[et0.index.month - 1], index=et0.index) / days_in_month,
            ECONOMICS).assign(district=name)
        for name, district in districts.items()])
    yields.to_csv(out / "drought_yield_impact.csv", index=False)
    (out / "report.html").write_text(allocation_report_html(
        f"Allocation plan, {model['name']}, {dry_year} (drought inflow x {factor:.2f})", results,
        ledger={"index": entry["index"], "hash": entry["hash"], "verified": verified["ok"]}, audit=audit,
        yields=yields, plan_scenario="drought"), encoding="utf-8")
    return {
        "dry_year": dry_year, "inflow_factor": round(factor, 3),
        "drought_status": status.reset_index().to_dict("records"),
        "drought_status_dry_year": drought_status(
            spi12.loc[:f"{dry_year}-09"].rename(columns={spi12.columns[0]: "demo river"})).reset_index().to_dict(
            "records"),
        "spi12_class_dry_year_september": str(classify_spi(spi12.iloc[:, 0]).loc[f"{dry_year}-09"].iloc[0]),
        "coverage": comparison.round(3).reset_index().to_dict("records"),
        "ledger": {"entry": entry["index"], "hash": entry["hash"], "verified": verified["ok"]},
        "audit_over_delivered": audit.users.index[audit.users["status"] == "over"].tolist(),
        "audit_transfers": audit.transfers.round(0).to_dict("records"),
        "revenue_loss": round(float(yields["revenue_loss"].sum()), 0),
        "files": sorted(p.name for p in out.iterdir()),
    }
