"""Load test: sustained HTTP and MQTT telemetry into a running ``suvar serve`` while panel-style queries run.

Run: ``make load`` or ``.venv/bin/python bench/load.py [--seconds 120] [--days 2 | --db STORE.duckdb]``.

The server is a real ``suvar serve --mqtt`` process on loopback over a copy of a demo store (built with
``suvar demo build --days N`` unless ``--db`` names one). For ``--seconds`` (bounded also by ``--max-requests``):

* devices post batches of readings over HTTP (``--http-rate`` posts a second of ``--batch`` readings);
* devices publish messages over MQTT at QoS 1 (``--mqtt-rate`` a second of ``--per-message`` readings);
* ``--users`` panel users each request, in turn, what the panel's pages call (the overview and its map, each
  zone's panel and kept daily balances), each zone's pressure series, the open alarms and a sensor's raw series,
  pausing ``--think`` seconds between requests; once a round one of them also asks for a zone balance computed
  live from the readings (an analysis: reported on its own line, outside the panel p99).

Each client has its own token, as in a deployment, so the server's per-token rate limit applies unchanged.
Reported: ingest throughput (readings/s), p50/p99 latency of each query kind and of ingest posts, errors, readings
lost (acknowledged readings that are not in the store at the end, counted in the store after the server has
stopped) and the server's resident memory sampled every second (first third against last third). Targets of
issue 8 on 2 cores: zero errors, no reading lost, p99 under 200 ms for panel queries, flat memory.
Prints a table and writes ``bench/out/load.json`` and ``bench/out/load.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pandas as pd
import psutil

from suvar.security.tokens import create_token
from suvar.store import DuckStore

OUT = Path(__file__).parent / "out"
SUVAR = str(Path(sys.executable).parent / "suvar")
LOAD_START = pd.Timestamp("2026-10-10T00:00:00Z")  # after the demo's days, before now: accepted, never future


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Recorder:
    """Thread-safe log of (t since start in s, kind, latency in ms, ok) and of counters."""

    t0: float = field(default_factory=time.perf_counter)
    rows: list[tuple[float, str, float, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, started: float, ok: bool, error: str | None = None) -> None:
        now = time.perf_counter()
        with self.lock:
            self.rows.append((started - self.t0, kind, (now - started) * 1000.0, ok))
            self.requests += 1
            if error:
                self.errors.append(f"{kind}: {error}"[:300])


def _broker(tmp: Path, url: str | None) -> tuple[str, subprocess.Popen | None]:
    """The broker to use: the one given, else localhost:1883 when it listens, else a mosquitto of our own."""
    if url:
        return url, None
    if _port_open(1883):
        return "mqtt://127.0.0.1:1883", None
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        sys.exit("no MQTT broker: start one on localhost:1883, pass --broker, or install mosquitto")
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if _port_open(port):
            return f"mqtt://127.0.0.1:{port}", proc
        time.sleep(0.1)
    sys.exit("mosquitto did not start")


def _prepare_store(args: argparse.Namespace, tmp: Path) -> Path:
    db = tmp / "load.duckdb"
    if args.db:
        shutil.copyfile(args.db, db)
        return db
    log(f"building a {args.days}-day demo store (suvar demo build) ...")
    env = {**os.environ, "SUVAR_DB": str(db)}
    subprocess.run([SUVAR, "demo", "build", "--days", str(args.days)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db


def _readings(sensors: list[str], step_index: int, steps: int, unit: str = "m") -> list[dict]:
    """``len(sensors) x steps`` pressure readings at 1-second steps from ``step_index``; keys never repeat."""
    out = []
    for k in range(step_index, step_index + steps):
        stamp = (LOAD_START + pd.Timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.extend({"sensor_id": s, "timestamp": stamp, "value": 40.0 + (k % 13), "unit": unit} for s in sensors)
    return out


def http_devices(url: str, token: str, sensors: list[str], rate_hz: float, batch: int, stop: threading.Event,
                 rec: Recorder, acked: list[int]) -> None:
    """Post a batch every 1/rate_hz s (no catch-up bursts) and count the readings acknowledged."""
    steps = max(1, batch // len(sensors))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    index, period = 0, 1.0 / rate_hz
    next_t = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            body = json.dumps({"readings": _readings(sensors, index, steps)}).encode()
            index += steps
            started = time.perf_counter()
            try:
                r = client.post(f"{url}/api/v1/readings", content=body, headers=headers)
                ok = r.status_code == 200 and r.json()["accepted"] == steps * len(sensors)
                rec.add("ingest_post", started, ok, None if ok else f"HTTP {r.status_code} {r.text[:200]}")
                if r.status_code == 200:
                    acked.append(r.json()["accepted"])
            except httpx.HTTPError as exc:
                rec.add("ingest_post", started, False, repr(exc))
            next_t = max(next_t + period, time.perf_counter())
            stop.wait(max(0.0, next_t - time.perf_counter()))


def mqtt_devices(broker: str, topic: str, sensors: list[str], rate_hz: float, per_message: int,
                 stop: threading.Event, infos: list[tuple[int, mqtt.MQTTMessageInfo]]) -> None:
    """Publish a message of ``per_message`` readings every 1/rate_hz s at QoS 1."""
    from suvar.telemetry.mqtt import parse_broker

    host, port = parse_broker(broker)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"load-pub-{uuid.uuid4().hex[:8]}")
    pub.connect(host, port)
    pub.loop_start()
    steps = max(1, per_message // len(sensors))
    index, period = 10**6, 1.0 / rate_hz  # a time range of its own (from day 11), apart from the HTTP devices'
    next_t = time.perf_counter()
    try:
        while not stop.is_set():
            payload = json.dumps(_readings(sensors, index, steps))
            index += steps
            infos.append((steps * len(sensors), pub.publish(topic, payload, qos=1)))
            next_t = max(next_t + period, time.perf_counter())
            stop.wait(max(0.0, next_t - time.perf_counter()))
        for _, info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        pub.loop_stop()
        pub.disconnect()


def panel_user(url: str, token: str, queries: list[tuple[str, str]], think_s: float, seed: int,
               stop: threading.Event, rec: Recorder) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30, headers=headers) as client:
        i = rng.randrange(len(queries))
        while not stop.is_set():
            kind, path = queries[i % len(queries)]
            i += 1
            started = time.perf_counter()
            try:
                r = client.get(url + path)
                rec.add(kind, started, r.status_code == 200,
                        None if r.status_code == 200 else f"HTTP {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                rec.add(kind, started, False, repr(exc))
            stop.wait(think_s * rng.uniform(0.5, 1.5))


#: Request kinds that are analyses run on demand, not panel views: reported, but not in the panel p99.
ANALYSES = ("balance_live",)


def _queries(store: DuckStore) -> list[tuple[str, str, str]]:
    """Panel requests over the demo's own days, as (kind, path, route): what the panel's pages call (overview, map,
    zone panel, kept balances; kept when the server has the route), every zone's pressure series, the open alarms
    and a sensor's raw readings; and, once a round, a zone balance computed live (an analysis, reported apart)."""
    first, last = (pd.Timestamp(t) for t in store._one(  # noqa: SLF001
        "SELECT min(ts), max(ts) FROM readings WHERE ts >= '2026-01-01'"))
    day0, day1 = first.date().isoformat(), last.date().isoformat()
    zones = list(store.zones()[["utility_id", "zone_id"]].drop_duplicates().itertuples(index=False))
    zone_route = "/api/v1/utilities/{utility_id}/zones/{zone_id}"
    out = []
    for utility, zone in zones:
        out += [
            ("zone_series", f"/api/v1/utilities/{utility}/zones/{zone}/series?kind=pressure&step=15min"
                            f"&start={day0}T00:00:00Z&end={last.isoformat()}Z", f"{zone_route}/series"),
            ("balances", f"/api/v1/utilities/{utility}/balances?freq=daily&zone={zone}",
             "/api/v1/utilities/{utility_id}/balances"),
            ("zone_panel", f"/api/v1/utilities/{utility}/zones/{zone}/panel", f"{zone_route}/panel"),
            ("alarms", "/api/v1/alarms?status=open", "/api/v1/alarms"),
        ]
    out += [("overview", "/api/v1/overview", "/api/v1/overview"),
            ("overview_map", "/api/v1/overview/map.geojson", "/api/v1/overview/map.geojson")]
    sensor = store.sensors("ltown").query("kind == 'pressure'")["sensor_id"].iloc[0]
    out.append(("sensor_series", f"/api/v1/sensors/{sensor}/series?start={day0}T00:00:00Z&end={day0}T06:00:00Z",
                "/api/v1/sensors/{sensor_id}/series"))
    utility, zone = zones[0]
    out.append(("balance_live", f"/api/v1/utilities/{utility}/zones/{zone}/balance?from={day0}&to={day1}"
                                "&freq=daily", f"{zone_route}/balance"))
    return out


def _reading_count(db: Path) -> int:
    with DuckStore(db, read_only=True) as store:
        return store.reading_count()


def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="suvar-load-"))
    broker, broker_proc = _broker(tmp, args.broker)
    db = _prepare_store(args, tmp)
    with DuckStore(db) as store:
        candidates = _queries(store)
        http_sensors = store.sensors("ltown").query("kind == 'pressure'")["sensor_id"].tolist()
        mqtt_sensors = store.sensors("capital").query("kind == 'pressure'")["sensor_id"].tolist()
        device_token = create_token(store, "load-http-device", ["ingest"])
        user_tokens = [create_token(store, f"load-user-{i}", ["read"]) for i in range(args.users)]
        before = store.reading_count()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    topic = f"suvar-load-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "SUVAR_DB": str(db)}
    server_log = (tmp / "server.log").open("wb")
    server = subprocess.Popen([SUVAR, "serve", "--port", str(port), "--mqtt", broker, "--topic", f"{topic}/+/readings"],
                              env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not start; see {server_log.name}")
            time.sleep(0.2)
        spec = httpx.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {user_tokens[0]}"}, timeout=30)
        routes = set(spec.json()["paths"])
        queries = [(kind, path) for kind, path, route in candidates if route in routes]
        log(f"panel requests: {sorted({k for k, _ in queries})}; not on this server: "
            f"{sorted({k for k, _, r in candidates if r not in routes}) or 'none'}")
        for kind, path in queries:  # every request works before the load starts
            r = httpx.get(url + path, headers={"Authorization": f"Bearer {user_tokens[0]}"}, timeout=60)
            if r.status_code != 200:
                sys.exit(f"{kind} {path}: HTTP {r.status_code} {r.text[:300]}")
        time.sleep(1.0)  # the MQTT subscriber of the server is connected by now
        proc = psutil.Process(server.pid)
        rec, stop = Recorder(), threading.Event()
        acked_http: list[int] = []
        infos: list[tuple[int, mqtt.MQTTMessageInfo]] = []
        memory: list[tuple[float, float]] = []
        threads = [
            threading.Thread(target=http_devices, args=(url, device_token, http_sensors, args.http_rate, args.batch,
                                                        stop, rec, acked_http)),
            threading.Thread(target=mqtt_devices, args=(broker, f"{topic}/dev/readings", mqtt_sensors,
                                                        args.mqtt_rate, args.per_message, stop, infos)),
            *[threading.Thread(target=panel_user, args=(url, tok, queries, args.think, i, stop, rec))
              for i, tok in enumerate(user_tokens)],
        ]
        log(f"load: {args.seconds} s, HTTP {args.http_rate}/s x {args.batch}, MQTT {args.mqtt_rate}/s x "
            f"{args.per_message}, {args.users} panel users; server pid {server.pid}, broker {broker}")
        for t in threads:
            t.start()
        cpu_before, load_before = sum(proc.cpu_times()[:2]), os.getloadavg()[0]
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end and rec.requests < args.max_requests:
            memory.append((time.perf_counter() - rec.t0, proc.memory_info().rss / 2**20))
            time.sleep(1.0)
        stop.set()
        elapsed = time.perf_counter() - rec.t0
        server_cpu_s, load_after = sum(proc.cpu_times()[:2]) - cpu_before, os.getloadavg()[0]
        for t in threads:
            t.join(60)
        expected = sum(acked_http) + sum(n for n, info in infos if info.is_published())
        # Let the server's MQTT ingest finish what the broker still holds for it, then stop the server.
        drain_deadline = time.monotonic() + 60
        while time.monotonic() < drain_deadline:
            r = httpx.get(f"{url}/api/v1/health", headers={"Authorization": f"Bearer {user_tokens[0]}"}, timeout=10)
            count = r.json().get("readings")
            if count is None:  # the health answer does not show the count: give the ingest a moment
                time.sleep(5.0)
                break
            if count - before >= expected:
                break
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
        server_log.close()
        if broker_proc:
            broker_proc.terminate()
    stored_new = _reading_count(db) - before
    frame = pd.DataFrame(rec.rows, columns=["t_s", "kind", "latency_ms", "ok"])
    mem = pd.DataFrame(memory, columns=["t_s", "rss_mib"])
    third = max(1, len(mem) // 3)
    first_mib, last_mib = mem["rss_mib"].iloc[:third].mean(), mem["rss_mib"].iloc[-third:].mean()
    result = {
        "machine": f"{os.cpu_count()} cores", "seconds": round(elapsed, 1), "requests": rec.requests,
        # Other work on the machine shows in the load average; the server's CPU time says how much it got.
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "server_cpu_cores_used": round(server_cpu_s / elapsed, 2),
        "settings": {k: v for k, v in vars(args).items() if k not in ("db", "broker")},
        "ingest": {
            "http_readings_acked": sum(acked_http), "mqtt_messages": len(infos),
            "mqtt_readings_acked_by_broker": sum(n for n, info in infos if info.is_published()),
            "readings_expected": expected, "readings_stored": stored_new,
            "readings_lost": expected - stored_new,
            "readings_per_s": round(stored_new / elapsed, 1),
            "http_posts_per_s": round(len(acked_http) / elapsed, 2),
        },
        "latency_ms": {
            kind: {"n": len(g), "p50": round(float(np.percentile(g["latency_ms"], 50)), 1),
                   "p99": round(float(np.percentile(g["latency_ms"], 99)), 1),
                   "max": round(float(g["latency_ms"].max()), 1), "errors": int((~g["ok"]).sum())}
            for kind, g in frame.groupby("kind")
        },
        "errors": len(rec.errors), "first_errors": rec.errors[:10],
        "memory_mib": {"first_third_mean": round(first_mib, 1), "last_third_mean": round(last_mib, 1),
                       "growth_pct": round(100.0 * (last_mib - first_mib) / first_mib, 1),
                       "max": round(float(mem["rss_mib"].max()), 1),
                       # trend after the first tenth (start-up): a leak shows as a steady slope
                       "slope_mib_per_min": round(60.0 * float(np.polyfit(*mem.iloc[len(mem) // 10:][
                           ["t_s", "rss_mib"]].to_numpy().T, 1)[0]), 2) if len(mem) >= 10 else None},
    }
    queries_only = frame[~frame["kind"].isin(["ingest_post", *ANALYSES])]
    result["panel_queries_p99_ms"] = round(float(np.percentile(queries_only["latency_ms"], 99)), 1)
    result["targets_met"] = {k: bool(v) for k, v in {
        "zero_errors": result["errors"] == 0, "no_readings_lost": result["ingest"]["readings_lost"] == 0,
        "panel_p99_under_200ms": result["panel_queries_p99_ms"] < 200.0,
        "flat_memory_within_10pct": abs(result["memory_mib"]["growth_pct"]) <= 10.0,
    }.items()}
    _plot(frame, mem, OUT / "load.png")
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def _plot(frame: pd.DataFrame, mem: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for kind, g in frame.groupby("kind"):
        ax1.plot(g["t_s"], g["latency_ms"], ".", ms=2, label=kind)
    ax1.axhline(200, color="grey", lw=0.8, ls="--")
    ax1.set_yscale("log")
    ax1.set_ylabel("latency (ms)")
    ax1.legend(markerscale=5, fontsize=8)
    ax1.set_title("Suvar load test: latency of each request and server memory")
    ax2.plot(mem["t_s"], mem["rss_mib"], color="black")
    ax2.set_ylabel("server RSS (MiB)")
    ax2.set_xlabel("time since start (s)")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)


def _table(result: dict) -> str:
    lines = [f"{'kind':<16}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'errors':>8}"]
    for kind, s in result["latency_ms"].items():
        lines.append(f"{kind:<16}{s['n']:>7}{s['p50']:>10}{s['p99']:>10}{s['max']:>10}{s['errors']:>8}")
    ing, mem = result["ingest"], result["memory_mib"]
    lines += [
        f"ingest: {ing['readings_stored']:,} readings stored in {result['seconds']} s = {ing['readings_per_s']:,} "
        f"readings/s (HTTP {ing['http_readings_acked']:,}, MQTT {ing['mqtt_readings_acked_by_broker']:,}); "
        f"lost {ing['readings_lost']}",
        f"panel queries p99 (all panel kinds, not the live balance): {result['panel_queries_p99_ms']} ms; "
        f"errors: {result['errors']}",
        f"server CPU: {result['server_cpu_cores_used']} cores; machine load average "
        f"{result['load_average_1min'][0]} -> {result['load_average_1min'][1]} on {os.cpu_count()} cores",
        f"server RSS: first third {mem['first_third_mean']} MiB, last third {mem['last_third_mean']} MiB "
        f"({mem['growth_pct']:+} %), max {mem['max']} MiB, trend {mem['slope_mib_per_min']} MiB/min",
        "targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["targets_met"].items()),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="duration of the load (default 120)")
    ap.add_argument("--max-requests", type=int, default=200_000, help="stop earlier after this many requests")
    ap.add_argument("--db", type=Path, help="a store to copy instead of building a demo")
    ap.add_argument("--days", type=int, default=2, help="days of the demo store to build (default 2)")
    ap.add_argument("--broker", help="MQTT broker URL (default localhost:1883, else a mosquitto of our own)")
    ap.add_argument("--http-rate", type=float, default=4.0, help="HTTP posts a second")
    ap.add_argument("--batch", type=int, default=500, help="readings per HTTP post")
    ap.add_argument("--mqtt-rate", type=float, default=20.0, help="MQTT messages a second")
    ap.add_argument("--per-message", type=int, default=100, help="readings per MQTT message")
    ap.add_argument("--users", type=int, default=4, help="concurrent panel users")
    ap.add_argument("--think", type=float, default=0.25, help="mean pause of a panel user between requests (s)")
    args = ap.parse_args()
    result = run(args)
    OUT.mkdir(exist_ok=True)
    (OUT / "load.json").write_text(json.dumps(result, indent=1))
    print(_table(result))
    log(f"wrote {OUT / 'load.json'} and {OUT / 'load.png'}")
    if not all(result["targets_met"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
