"""Units of telemetry, converted with ``pint`` at the edge.

Each sensor kind has one canonical unit in which readings are stored:

========  =========  =================================================
kind      canonical  accepted units (any pint-convertible spelling)
========  =========  =================================================
pressure  m          m (metres of water head), bar, kPa, Pa, psi, mH2O
flow      m3/h       m3/h, L/s, L/h, L/min, m3/s, gpm (US)
level     m          m, cm, mm, ft
volume    m3         m3, L, kL, ML, gal (US)
quality   as given   the sensor's own unit (mg/L, NTU, uS/cm ...)
========  =========  =================================================

For pressure, a bare length ("m", "ft") means head of water: 1 m = ρg·1 m = 9806.65 Pa with ρ = 1000 kg/m³
and standard gravity g = 9.80665 m/s² (EPANET's convention).
"""

from __future__ import annotations

import math
from functools import lru_cache

import pint

CANONICAL = {"pressure": "m", "flow": "m3/h", "level": "m", "volume": "m3"}
KINDS = ("pressure", "flow", "level", "volume", "quality")

_ureg = pint.UnitRegistry()
_ureg.define("metre_of_water = 9806.65 * pascal = mH2O = mwc")
_ALIASES = {"m3/h": "m**3/h", "m3/s": "m**3/s", "m3": "m**3", "l/s": "L/s", "l/h": "L/h", "l/min": "L/min",
            "l": "L", "kl": "kL", "ml": "ML", "gpm": "gallon/minute", "gal": "gallon", "cmh": "m**3/h"}


class UnitError(ValueError):
    """A unit that is unknown (``reason = 'unknown_unit'``) or of the wrong dimension for the sensor's kind
    (``reason = 'incompatible_unit'``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _parse(unit: str) -> pint.Unit:
    text = _ALIASES.get(unit.strip().lower(), unit.strip())
    try:
        return _ureg.Unit(text)
    except Exception as exc:  # noqa: BLE001 - pint's parser raises many types on hostile text ("1/0", "(", ...)
        raise UnitError("unknown_unit", f"unknown unit {unit!r}") from exc


@lru_cache(maxsize=1024)
def conversion(kind: str, unit: str) -> float:
    """Factor that turns a value in ``unit`` into the canonical unit of ``kind`` (all conversions are linear).

    >>> round(conversion("pressure", "bar"), 4)
    10.1972
    >>> round(conversion("flow", "L/s"), 9)
    3.6
    """
    if kind not in KINDS:
        raise UnitError("unknown_kind", f"unknown sensor kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "quality":
        return 1.0
    source = _parse(unit)
    target = _ureg.Unit(_ALIASES.get(CANONICAL[kind], CANONICAL[kind]))
    if kind == "pressure":  # a length on a pressure sensor is head of water
        target = _ureg.Unit("m" if source.dimensionality == _ureg.Unit("m").dimensionality else "mH2O")
    try:
        factor = float((1 * source).to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(
            "incompatible_unit", f"unit {unit!r} is not a {kind} unit (expected something like {CANONICAL[kind]})"
        ) from None
    if not (math.isfinite(factor) and factor > 0):
        raise UnitError("unknown_unit", f"unit {unit!r} gives the conversion factor {factor}")
    return factor
