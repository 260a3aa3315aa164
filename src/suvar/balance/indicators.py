"""Real-loss performance indicators: UARL, ILI and the World Bank Institute bands.

References
----------
- Lambert, A.O., Brown, T.G., Takizawa, M., Weimer, D. (1999). A review of performance indicators
  for real losses from water supply systems. J. Water SRT - Aqua 48(6), 227-237 (UARL equation and
  its components, Table 3; validity limits).
- Thornton, J., Sturm, R., Kunkel, G. (2008). Water Loss Control, 2nd ed., McGraw-Hill, ch. 7
  (US-unit UARL, Table 7.2).
- Kingdom, B., Liemberger, R., Marin, P. (2006). The challenge of reducing non-revenue water in
  developing countries. World Bank WSS Sector Board Discussion Paper 8 (original WBI banding).
- Liemberger, R., Wyatt, A. (2019). Quantifying the global non-revenue water problem. Water Supply
  19(3), 831-837 (A1/A2/B/C/D banding).
"""

from __future__ import annotations

import math
from typing import Literal

IncomeGroup = Literal["high", "low_middle"]

#: UARL coefficients, l/day per m of pressure: per km of mains, per service connection, per km of
#: private pipe (property boundary to customer meter). Lambert et al. (1999).
UARL_COEFFS_METRIC = (18.0, 0.8, 25.0)
#: The same in US units, gal/day per psi: per mile of mains, per connection, per mile of private pipe
#: (Thornton et al. 2008, Table 7.2).
UARL_COEFFS_US = (5.41, 0.15, 7.5)
#: Components of the metric UARL coefficients (Lambert et al. 1999, Table 3): background leakage,
#: reported bursts and unreported bursts, each as (mains l/km, connections l/conn, private l/km)
#: per day per m of pressure; columns sum to UARL_COEFFS_METRIC.
UARL_COMPONENTS_METRIC = {
    "background": (9.6, 0.6, 16.0),
    "reported_bursts": (5.8, 0.04, 1.9),
    "unreported_bursts": (2.6, 0.16, 7.1),
}

#: Minimum connections for a reliable ILI. Lambert et al. (1999) set 5000; later IWA guidance
#: (Lambert 2009, "ILI: what it is and how to use it") lowered it to 3000.
ILI_MIN_CONNECTIONS = 3000
ILI_MIN_DENSITY_PER_KM = 20.0
ILI_MIN_PRESSURE_M = 25.0

#: Original WBI banding by ILI upper bound (Kingdom, Liemberger & Marin 2006).
WBI_ORIGINAL_ILI: dict[str, list[tuple[str, float]]] = {
    "high": [("A", 2.0), ("B", 4.0), ("C", 8.0), ("D", math.inf)],
    "low_middle": [("A", 4.0), ("B", 8.0), ("C", 16.0), ("D", math.inf)],
}
#: A1/A2/B/C/D banding by ILI upper bound (Liemberger & Wyatt 2019).
WBI_CURRENT_ILI: dict[str, list[tuple[str, float]]] = {
    "high": [("A1", 1.5), ("A2", 2.0), ("B", 4.0), ("C", 8.0), ("D", math.inf)],
    "low_middle": [("A1", 2.0), ("A2", 4.0), ("B", 8.0), ("C", 16.0), ("D", math.inf)],
}
#: Pressure columns (m) of the banding matrices.
WBI_PRESSURE_COLUMNS_M = (10.0, 20.0, 30.0, 40.0, 50.0)
#: The matrices' real-loss limits are ILI limit x 1.25 l/connection/day/m x column pressure; this
#: reproduces every cell of the published original matrix (checked in tests).
WBI_LCD_PER_ILI_PER_M = 1.25


def uarl_l_per_day(
    mains_length_km: float,
    service_connections: float,
    avg_private_pipe_length_m: float,
    avg_pressure_m: float,
) -> float:
    """Unavoidable annual real losses as a daily rate, l/day (continuous supply).

    ``UARL = (18 Lm + 0.8 Nc + 25 Lp) P`` with ``Lm`` km of mains, ``Nc`` service connections,
    ``Lp = Nc x avg_private_pipe_length_m / 1000`` km of private pipe and ``P`` m of average
    pressure (Lambert et al. 1999).
    """
    a, b, c = UARL_COEFFS_METRIC
    lp_km = service_connections * avg_private_pipe_length_m / 1000.0
    return (a * mains_length_km + b * service_connections + c * lp_km) * avg_pressure_m


def uarl_us_gal_per_day(
    mains_length_mi: float, service_connections: float, private_pipe_length_mi: float, avg_pressure_psi: float
) -> float:
    """UARL in US units, gal/day: ``(5.41 Lm + 0.15 Nc + 7.5 Lp) P`` (Thornton et al. 2008, eq. 7.1).

    ``Lm`` miles of mains, ``Lp`` *total* miles of private pipe, ``P`` psi.
    """
    a, b, c = UARL_COEFFS_US
    return (a * mains_length_mi + b * service_connections + c * private_pipe_length_mi) * avg_pressure_psi


def uarl_component_l_per_day(
    component: str,
    mains_length_km: float,
    service_connections: float,
    avg_private_pipe_length_m: float,
    avg_pressure_m: float,
) -> float:
    """One UARL component (``background``, ``reported_bursts``, ``unreported_bursts``), l/day."""
    a, b, c = UARL_COMPONENTS_METRIC[component]
    lp_km = service_connections * avg_private_pipe_length_m / 1000.0
    return (a * mains_length_km + b * service_connections + c * lp_km) * avg_pressure_m


def ili(carl_m3: float, uarl_m3: float) -> float:
    """Infrastructure Leakage Index, ``ILI = CARL / UARL`` (dimensionless; same period for both)."""
    if uarl_m3 <= 0:
        raise ValueError(f"UARL must be > 0 to compute ILI, got {uarl_m3}")
    return carl_m3 / uarl_m3


def ili_validity(
    service_connections: float, mains_length_km: float, avg_pressure_m: float
) -> tuple[bool, list[str]]:
    """Whether the UARL equation is reliable for this system, and why not (Lambert et al. 1999)."""
    notes = []
    if service_connections < ILI_MIN_CONNECTIONS:
        notes.append(f"fewer than {ILI_MIN_CONNECTIONS} service connections ({service_connections:g})")
    density = service_connections / mains_length_km
    if density < ILI_MIN_DENSITY_PER_KM:
        notes.append(
            f"connection density {density:.1f}/km below {ILI_MIN_DENSITY_PER_KM:g}/km: "
            "use real losses per km of mains per day"
        )
    if avg_pressure_m < ILI_MIN_PRESSURE_M:
        notes.append(f"average pressure {avg_pressure_m:g} m below {ILI_MIN_PRESSURE_M:g} m")
    return not notes, notes


def _band(value: float, table: list[tuple[str, float]]) -> str:
    """First band whose upper limit exceeds ``value``; the last band otherwise."""
    return next((name for name, upper in table if value < upper), table[-1][0])


def wbi_band_original(ili_value: float, income_group: IncomeGroup = "high") -> str:
    """Original World Bank Institute band A-D from the ILI (Kingdom, Liemberger & Marin 2006)."""
    return _band(ili_value, WBI_ORIGINAL_ILI[income_group])


def wbi_pressure_column_m(avg_pressure_m: float) -> float:
    """The banding matrix's pressure column nearest to ``avg_pressure_m`` (10-50 m)."""
    return min(WBI_PRESSURE_COLUMNS_M, key=lambda col: abs(col - avg_pressure_m))


def wbi_band_current(
    real_losses_l_per_conn_per_day_wsp: float, avg_pressure_m: float, income_group: IncomeGroup = "high"
) -> str:
    """A1/A2/B/C/D band from real losses per connection per day when the system is pressurised.

    The limit of each band at the pressure column nearest to ``avg_pressure_m`` is the band's ILI
    limit x 1.25 l/conn/day/m x column pressure (Liemberger & Wyatt 2019 matrix construction).
    """
    per_m = WBI_LCD_PER_ILI_PER_M * wbi_pressure_column_m(avg_pressure_m)
    table = [(name, upper * per_m) for name, upper in WBI_CURRENT_ILI[income_group]]
    return _band(real_losses_l_per_conn_per_day_wsp, table)


def wbi_band_current_by_ili(ili_value: float, income_group: IncomeGroup = "high") -> str:
    """A1/A2/B/C/D band from the ILI (Liemberger & Wyatt 2019)."""
    return _band(ili_value, WBI_CURRENT_ILI[income_group])


def wbi_lcd_limits(income_group: IncomeGroup, current: bool = False) -> dict[str, list[float]]:
    """The banding matrix: band -> real-loss upper limits (l/conn/day) at 10, 20, 30, 40, 50 m."""
    table = (WBI_CURRENT_ILI if current else WBI_ORIGINAL_ILI)[income_group]
    return {
        name: [upper * WBI_LCD_PER_ILI_PER_M * p for p in WBI_PRESSURE_COLUMNS_M] for name, upper in table
    }
