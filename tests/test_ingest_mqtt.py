"""MQTT ingest against a real broker: QoS 1, acknowledged after commit, idempotent on redelivery."""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from suvar.store import DuckStore
from suvar.telemetry.mqtt import MqttIngest, parse_broker


def _publish(broker: str, topic: str, payloads: list[bytes]) -> None:
    host, port = parse_broker(broker)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.connect(host, port)
    pub.loop_start()
    infos = [pub.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=10)
    pub.loop_stop()
    pub.disconnect()


def _run_until(ingest: MqttIngest, done: callable, timeout: float = 20) -> None:  # type: ignore[valid-type]
    thread = threading.Thread(target=ingest.run, daemon=True)
    thread.start()
    assert ingest.subscribed.wait(10), "could not subscribe"
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    ingest.stop()
    thread.join(10)


def test_mqtt_ingest(hanoi: DuckStore, mqtt_broker: str) -> None:
    topic_root = f"suvar-test-{uuid.uuid4().hex[:8]}"
    ingest = MqttIngest(hanoi, mqtt_broker, f"{topic_root}/+/readings", client_id=f"suvar-{uuid.uuid4().hex[:8]}")
    batch = [{"sensor_id": "P-2", "timestamp": f"2024-01-01T00:{m:02d}:00Z", "value": 50 + m} for m in range(0, 60, 5)]
    payloads = [json.dumps({"readings": batch[:6]}).encode(), json.dumps(batch[6:]).encode(),
                json.dumps({"sensor_id": "F-1", "timestamp": "2024-01-01T00:00:00Z", "value": 3.5}).encode(),
                b"\x00garbage"]

    def publish_when_ready() -> None:
        ingest.subscribed.wait(10)
        _publish(mqtt_broker, f"{topic_root}/dev1/readings", payloads)

    threading.Thread(target=publish_when_ready).start()
    _run_until(ingest, lambda: ingest.total.accepted >= 13 and ingest.total.quarantined)
    assert ingest.total.as_dict() == {"accepted": 13, "duplicates": 0, "conflicts": 0,
                                      "quarantined": {"malformed_row": 1}}
    assert hanoi.reading_count() == 13
    assert hanoi.quarantine(source=f"mqtt:{topic_root}/+/readings")["raw"].str.contains("garbage").all()

    # The same readings again (as a publisher re-sending after a lost ack): duplicates, nothing added.
    again = MqttIngest(hanoi, mqtt_broker, f"{topic_root}/+/readings", client_id=f"suvar-{uuid.uuid4().hex[:8]}")
    threading.Thread(target=lambda: (again.subscribed.wait(10),
                                     _publish(mqtt_broker, f"{topic_root}/dev1/readings", payloads[:2]))).start()
    _run_until(again, lambda: again.total.duplicates >= 12)
    assert (again.total.accepted, again.total.duplicates) == (0, 12)
    assert hanoi.reading_count() == 13


def test_unacknowledged_messages_are_redelivered(hanoi: DuckStore, mqtt_broker) -> None:  # noqa: ANN001
    """A subscriber that dies before committing does not ack; its persistent session gets the message again."""
    if not mqtt_broker.redelivers:
        pytest.skip("the fallback broker (amqtt) does not redeliver unacknowledged messages; install mosquitto")
    topic = f"suvar-test-{uuid.uuid4().hex[:8]}/dev/readings"
    client_id = f"suvar-{uuid.uuid4().hex[:8]}"
    host, port = parse_broker(mqtt_broker)
    received = threading.Event()
    dying = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False, manual_ack=True)
    dying.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    dying.on_message = lambda *_: received.set()  # never acknowledged: the process "dies" here
    dying.connect(host, port)
    dying.loop_start()
    time.sleep(0.5)
    _publish(mqtt_broker, topic, [json.dumps({"sensor_id": "P-2", "timestamp": "2024-01-01T00:00:00Z",
                                              "value": 42}).encode()])
    assert received.wait(10)
    dying.loop_stop()
    dying._sock_close()  # drop the connection without a clean disconnect
    ingest = MqttIngest(hanoi, mqtt_broker, topic, client_id=client_id)
    _run_until(ingest, lambda: ingest.total.accepted >= 1)
    assert ingest.total.accepted == 1
    assert hanoi.series(["P-2"])["value"].tolist() == [42.0]
