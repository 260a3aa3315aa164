"""The deterministic demo country: public networks, simulated telemetry, billing, planted leaks and faults."""
