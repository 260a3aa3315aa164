"""Shared fixtures: a fresh store, a small registered network, the in-process API client and a real MQTT broker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.network.epanet import import_network
from suvar.network.zones import apply_zones
from suvar.security.tokens import create_token
from suvar.store import DuckStore

NETWORKS = Path(str(files("suvar") / "data" / "networks"))
DATA = Path(__file__).parent / "data"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckStore]:
    s = DuckStore(tmp_path / "suvar.duckdb")
    yield s
    s.close()


@pytest.fixture
def hanoi(store: DuckStore) -> DuckStore:
    """Hanoi (31 junctions) as utility ``hanoi`` with one zone fed by pipe 1 and four sensors."""
    import_network(store, NETWORKS / "Hanoi_CMH.inp", "hanoi", name="Hanoi")
    apply_zones(store, "hanoi", boundary=pd.DataFrame([("Z1", "1", "inlet")], columns=["zone_id", "link_id", "role"]))
    store.upsert_sensors(pd.DataFrame([
        {"sensor_id": "P-2", "utility_id": "hanoi", "kind": "pressure", "unit": "m", "node_id": "2", "zone_id": "Z1"},
        {"sensor_id": "P-3", "utility_id": "hanoi", "kind": "pressure", "unit": "bar", "node_id": "3", "zone_id": "Z1"},
        {"sensor_id": "F-1", "utility_id": "hanoi", "kind": "flow", "unit": "m3/h", "link_id": "1", "zone_id": "Z1"},
        {"sensor_id": "V-9", "utility_id": "hanoi", "kind": "volume", "unit": "L", "node_id": "9", "zone_id": "Z1",
         "connection_id": "C-9", "customer_class": "residential", "billed": True},
    ]))
    return store


@pytest.fixture
def client(hanoi: DuckStore) -> TestClient:
    return TestClient(create_app(hanoi, load_settings({"SUVAR_MAX_BATCH": "5000"})))


@pytest.fixture
def ingest_token(hanoi: DuckStore) -> str:
    return create_token(hanoi, "test-device", ["ingest"])


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker(str):
    """A broker URL; ``redelivers`` says whether it resends unacknowledged QoS 1 messages on session resume
    (mosquitto does; amqtt 0.11-0.12 does not)."""

    redelivers: bool = True


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real MQTT broker: localhost:1883 when one listens, else mosquitto, else amqtt, on a free port."""
    if _port_open("127.0.0.1", 1883):
        yield Broker("mqtt://127.0.0.1:1883")
        return
    port = _free_port()
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if mosquitto:
        conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        cmd = [mosquitto, "-c", str(conf)]
    else:
        conf = tmp_path_factory.mktemp("amqtt") / "amqtt.yaml"
        conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n"
                        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n")
        cmd = [str(Path(sys.executable).parent / "amqtt"), "-c", str(conf)]
    broker = Broker(f"mqtt://127.0.0.1:{port}")
    broker.redelivers = bool(mosquitto)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not _port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"could not start an MQTT broker with {cmd}")
        time.sleep(0.1)
    yield broker
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DuckStore, dict]]:
    """A 4-day demo country (leaks on p257 from day 2 10:40 and p654 from day 3 03:05), built once."""
    from suvar.demo.build import build_demo

    tmp = tmp_path_factory.mktemp("demo")
    store = DuckStore(tmp / "demo.duckdb")
    messages: list[str] = []
    summary = build_demo(store, days=4, workdir=tmp / "files", progress=messages.append)
    summary["progress"] = messages
    yield store, summary
    store.close()
