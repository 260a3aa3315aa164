"""Progress reporting for long jobs (simulations, leak scans) that report the fraction done."""

from __future__ import annotations

import time
from collections.abc import Callable


def throttled(say: Callable[[str], None], label: str, every_s: float = 5.0) -> Callable[[float], None]:
    """A progress callback that reports ``label: NN%`` through ``say`` at most every ``every_s`` seconds."""
    last = [-every_s]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s or fraction >= 1:
            last[0] = now
            say(f"{label}: {100 * fraction:.0f}%")

    return report
