"""MQTT ingest at QoS 1: a message is acknowledged only after its readings are committed.

Payloads are JSON: one reading object, a list of them, or ``{"readings": [...]}`` (fields as for HTTP). The
subscriber keeps a persistent session (fixed client id, ``clean_session=False``) and acknowledges by hand, so a
message that arrived but was not yet committed when the process died is delivered again by the broker; the
idempotent store turns that redelivery into duplicates, never into double counts. A payload that is not JSON, or
is over the HTTP limits (``SUVAR_MAX_BODY_BYTES``, ``SUVAR_MAX_BATCH`` readings), is quarantined
(``malformed_row``) and then acknowledged: it is kept, with its reason, not lost.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import pyarrow as pa

from suvar.config import Settings, load_settings
from suvar.store import IngestCounts, Store
from suvar.telemetry.ingest import ingest_batch, sensor_index
from suvar.telemetry.readers import read_records


def parse_broker(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise ValueError(f"broker must look like mqtt://HOST:PORT, not {url!r}")
    return parsed.hostname, parsed.port or 1883


def payload_records(payload: bytes) -> list | None:
    """The readings in one payload, or None when it is not a JSON reading, list or batch."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(body, dict) and "readings" in body:
        body = body["readings"]
    elif isinstance(body, dict):
        body = [body]
    return body if isinstance(body, list) else None


def topic_device(topic: str) -> str | None:
    """The device a message came from: the second level of ``<root>/<device>/readings``."""
    levels = topic.split("/")
    return levels[1] if len(levels) == 3 and levels[2] == "readings" else None


def messages_batch(messages: list[mqtt.MQTTMessage], devices: dict[str, str] | None = None, *,
                   max_bytes: int | None = None, max_readings: int | None = None) -> pa.Table:
    """One batch table from several messages; unreadable payloads become malformed rows. ``devices`` maps the
    sensors bound to a field device to it: such a sensor's readings count only from its device's topic
    (``suvar/<device>/readings``, which the broker's ACL lets only that device publish to); from any other
    topic they are quarantined as ``wrong_device``. A payload over ``max_bytes``, or with more than
    ``max_readings`` readings, is one malformed row too (HTTP answers those limits with 413; a device on MQTT
    cannot be answered, so its message is kept in quarantine with the reason and the start of the payload)."""
    records: list = []
    wrong: list[int] = []
    for msg in messages:
        if max_bytes is not None and len(msg.payload) > max_bytes:
            records.append(f"topic {msg.topic}: payload of {len(msg.payload)} bytes is over the limit of "
                           f"{max_bytes}: {msg.payload[:200]!r}")
            continue
        items = payload_records(msg.payload)
        if items is None:
            records.append(f"topic {msg.topic}: {msg.payload[:400]!r}")  # not a dict: quarantined as malformed
            continue
        if max_readings is not None and len(items) > max_readings:
            records.append(f"topic {msg.topic}: {len(items)} readings in one message, over the limit of "
                           f"{max_readings}: {msg.payload[:200]!r}")
            continue
        if devices:
            sender = topic_device(msg.topic)
            wrong += [len(records) + i for i, item in enumerate(items) if isinstance(item, dict)
                      and devices.get(str(item.get("sensor_id")), sender) != sender]
        records.extend(items)
    table = read_records(records, "mqtt")
    if wrong:
        reasons = table.column("pre_reason").to_pylist()
        for i in wrong:
            reasons[i] = reasons[i] or "wrong_device"
        table = table.set_column(table.schema.get_field_index("pre_reason"), "pre_reason",
                                 pa.array(reasons, pa.string()))
    return table


class MqttIngest:
    """Subscribe, batch messages for up to ``max_wait_s`` or ``max_messages``, commit, then acknowledge."""

    def __init__(
        self, store: Store, broker: str, topic: str = "suvar/+/readings", *, client_id: str = "suvar-ingest",
        settings: Settings | None = None, max_messages: int = 500, max_wait_s: float = 0.2, linger_s: float = 0.01,
        on_batch: Callable[[IngestCounts], None] | None = None,
    ) -> None:
        self.store, self.topic, self.settings = store, topic, settings or load_settings()
        self.client_id = client_id
        self.host, self.port = parse_broker(broker)
        self.max_messages, self.max_wait_s, self.linger_s, self.on_batch = max_messages, max_wait_s, linger_s, on_batch
        self.messages = 0  # acknowledged so far
        self.total = IngestCounts()
        self._queue: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._stop = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, msg: self._queue.put(msg)

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                    _props: object) -> None:
        if not getattr(reason, "is_failure", False):
            client.subscribe(self.topic, qos=1)
            self.subscribed.set()

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, idle_exit_s: float | None = None) -> IngestCounts:
        """Run until ``stop()`` (or, with ``idle_exit_s``, until no message came for that long)."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        last = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = self._collect()
                if not batch:
                    if idle_exit_s is not None and time.monotonic() - last > idle_exit_s:
                        break
                    continue
                last = time.monotonic()
                devices = {s: d for s, (_u, d) in self.store.sensor_owners().items() if d}
                table = messages_batch(batch, devices, max_bytes=self.settings.max_body_bytes,
                                       max_readings=self.settings.max_batch)
                counts = ingest_batch(self.store, table, f"mqtt:{self.topic}",
                                      sensors=sensor_index(self.store), settings=self.settings,
                                      who=f"mqtt:{self.client_id}", where=f"{self.host}:{self.port}")
                for msg in batch:  # only now is the data durable
                    self.client.ack(msg.mid, msg.qos)
                self.messages += len(batch)
                self.total += counts
                if self.on_batch:
                    self.on_batch(counts)
        finally:
            self.client.loop_stop()
            self.client.disconnect()
        return self.total

    def _collect(self) -> list[mqtt.MQTTMessage]:
        """The next batch: whatever has arrived, waiting at most ``max_wait_s`` in all and ``linger_s`` for each
        further message. The broker sends only a small window of unacknowledged messages (mosquitto: 20), so
        waiting long for more than the window would only stall the flow."""
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_messages:
            remaining = min(deadline - time.monotonic(), self.linger_s)
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch
