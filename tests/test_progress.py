"""Progress of long jobs: reported at most every few seconds, and always at the end."""

from __future__ import annotations

import pytest

from suvar import progress


def test_throttled_reports_at_most_every_interval_and_always_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 2.0, 5.5, 6.0, 7.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    said: list[str] = []
    report = progress.throttled(said.append, "scan", every_s=5.0)
    for fraction in (0.1, 0.2, 0.3, 0.5, 0.6, 1.0):
        report(fraction)
    assert said == ["scan: 10%", "scan: 50%", "scan: 100%"]
