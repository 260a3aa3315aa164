"""Telemetry: readers for each source (files, HTTP, MQTT), the one validation pipeline, units and quarantine.

Flow: a reader makes a batch table, ``validate`` accepts or rejects each row with a reason, and the store writes
the accepted readings and the quarantined rows in one transaction (``ingest.ingest_batch``).
"""
