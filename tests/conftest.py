"""Shared fixtures: a fresh store (on DuckDB and on PostgreSQL), a small registered network, the in-process API
client and a real MQTT broker."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as psql

from suvar.api.app import create_app
from suvar.config import load_settings
from suvar.network.epanet import import_network
from suvar.network.zones import apply_zones
from suvar.security.tokens import create_token
from suvar.store import DuckStore, PostgresStore

NETWORKS = Path(str(files("suvar") / "data" / "networks"))
DATA = Path(__file__).parent / "data"
# Tests simulate what they use: signatures kept by an earlier run would hide a change in the simulation.
os.environ["SUVAR_CACHE_DIR"] = ""


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DuckStore | PostgresStore]:
    """A fresh, empty store: every test that uses it runs once on DuckDB and once on PostgreSQL."""
    if request.param == "duckdb":
        s: DuckStore | PostgresStore = DuckStore(tmp_path / "suvar.duckdb")
    else:
        url = request.getfixturevalue("pg_url")
        _pg_truncate(url)
        s = PostgresStore(url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A real PostgreSQL server's admin URL: ``$TEST_PG_SERVER`` when it is a URL, else the one on localhost:5432,
    else (or when ``TEST_PG_SERVER=start``) a private one started with initdb/pg_ctl in a temporary directory."""
    wanted = os.environ.get("TEST_PG_SERVER", "")
    if wanted.startswith(("postgresql://", "postgres://")):
        yield wanted
        return
    if wanted != "start" and _port_open("127.0.0.1", 5432):
        url = "postgresql://postgres@127.0.0.1:5432/postgres"
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            pytest.fail(f"PostgreSQL on localhost:5432 refused {url} ({exc}); set TEST_PG_SERVER to an admin URL "
                        "or TEST_PG_SERVER=start to run a private server")
        yield url
        return
    yield from _private_postgres()


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database ``suvar_test_<random>`` on ``pg_server`` for this test session, dropped at the end."""
    name = f"suvar_test_{secrets.token_hex(4)}"
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(name)))
    yield urlunsplit(urlsplit(pg_server)._replace(path=f"/{name}"))
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(psql.SQL("DROP DATABASE {} WITH (FORCE)").format(psql.Identifier(name)))


def _pg_truncate(url: str) -> None:
    """Empty every table of a test database (fast: one TRUNCATE; sequences restart)."""
    with psycopg.connect(url, autocommit=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
            "'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'schema_version'")]
        if tables:
            con.execute(psql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                psql.SQL(", ").join(map(psql.Identifier, tables))))


def _private_postgres() -> Iterator[str]:
    """initdb + pg_ctl (Debian's postgresql package) on a free port, as the ``postgres`` user when run as root."""
    bindir = None
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    if not bindir or not os.path.exists(os.path.join(bindir, "initdb")):
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        bindir = str(found[-1].parent) if found else None
    if not bindir:
        pytest.fail("the PostgreSQL tests need a server: none listens on localhost:5432 and initdb was not found "
                    "(install Debian's postgresql package, or set TEST_PG_SERVER to an admin URL)")
    data = Path(tempfile.mkdtemp(prefix="suvar-pg-"))
    port = _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(data, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    pgdata = data / "pgdata"
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    for cmd in ([f"{bindir}/initdb", "-D", str(pgdata), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                [f"{bindir}/pg_ctl", "-D", str(pgdata), "-o", opts, "-l", str(data / "log"), "-w", "start"]):
        done = subprocess.run(prefix + cmd, capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"could not start PostgreSQL: {' '.join(cmd)}: {done.stdout}{done.stderr}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


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


def admin_headers(store: DuckStore) -> dict[str, str]:
    """The header of a fresh admin token: every route is denied by default, so tests authenticate."""
    return {"Authorization": f"Bearer {create_token(store, 'test-admin', ['admin'])}"}


@pytest.fixture
def client(hanoi: DuckStore) -> TestClient:
    """The API over ``hanoi``, authenticated as an admin token by default (override the header per request)."""
    return TestClient(create_app(hanoi, load_settings({"SUVAR_MAX_BATCH": "5000"})), headers=admin_headers(hanoi))


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
