"""FAO-56 crop table and the single crop coefficient (Kc) curve.

Stage lengths come from FAO-56 Table 11, single crop coefficients Kc_ini, Kc_mid, Kc_end and the maximum
crop height h from FAO-56 Table 12 (values for a sub-humid climate, RHmin ~ 45 %, u2 ~ 2 m/s), and the
seasonal yield response factor Ky from FAO-33's table of seasonal values (Doorenbos & Kassam 1979).
Where a table gives a range, the record's ``source`` says which value is used (mostly the midpoint); it
names the table rows.

Kc through the season follows FAO-56 Fig. 25: constant Kc_ini over the initial stage, a straight line to
Kc_mid over crop development, constant Kc_mid at mid-season and a straight line to Kc_end over the late
season (FAO-56 Eq. 66). Kc_mid and Kc_end are adjusted to the local climate by FAO-56 Eqs. 62 and 65.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class CropDataError(ValueError):
    """An unknown crop or unusable crop parameters."""


@dataclass(frozen=True)
class Crop:
    """One crop's FAO-56 single-coefficient parameters.

    Attributes
    ----------
    stage_lengths_d
        Lengths of the initial, development, mid-season and late-season stages [days] (FAO-56 Table 11).
    kc_ini, kc_mid, kc_end
        Tabulated single crop coefficients (FAO-56 Table 12).
    height_m
        Maximum crop height h [m] (FAO-56 Table 12), used by Eq. 62.
    ky
        Seasonal yield response factor (FAO-33 seasonal Ky table); ``None`` where FAO-33 gives no seasonal value.
    source
        The table rows the values were taken from.
    """

    name: str
    stage_lengths_d: tuple[int, int, int, int]
    kc_ini: float
    kc_mid: float
    kc_end: float
    height_m: float
    ky: float | None
    source: str

    @property
    def season_length_d(self) -> int:
        """Length of the growing season [days]."""
        return sum(self.stage_lengths_d)


CROPS: dict[str, Crop] = {
    crop.name: crop
    for crop in (
        Crop(
            name="wheat",
            stage_lengths_d=(30, 140, 40, 30),
            kc_ini=0.7,
            kc_mid=1.15,
            kc_end=0.25,
            height_m=1.0,
            ky=1.0,
            source="Table 11 'Winter Wheat' 30/140/40/30 (240 d), Nov, Mediterranean; Table 12 'Winter "
            "Wheat - with non-frozen soils' 0.7/1.15/0.25-0.4 (0.25: dried in the field), h 1 m; "
            "FAO-33 winter wheat",
        ),
        Crop(
            name="maize",
            stage_lengths_d=(30, 40, 50, 30),
            kc_ini=0.3,
            kc_mid=1.20,
            kc_end=0.35,
            height_m=2.0,
            ky=1.25,
            source="Table 11 'Maize (grain)' 30/40/50/30 (150 d), April, Spain (spring, summer), California; "
            "Table 12 'Maize, Field (grain)' 0.3/1.20/0.35 (grain dried in the field), h 2 m; FAO-33 maize",
        ),
        Crop(
            name="cotton",
            stage_lengths_d=(30, 50, 60, 55),
            kc_ini=0.35,
            kc_mid=1.175,
            kc_end=0.60,
            height_m=1.35,
            ky=0.85,
            source="Table 11 'Cotton' 30/50/60/55 (195 d), Mar-May, Egypt, Pakistan, California; Table 12 "
            "'Cotton' 0.35/1.15-1.20/0.70-0.50, h 1.2-1.5 m (range midpoints); FAO-33 cotton",
        ),
        Crop(
            name="tomato",
            stage_lengths_d=(30, 40, 45, 30),
            kc_ini=0.6,
            kc_mid=1.15,
            kc_end=0.80,
            height_m=0.6,
            ky=1.05,
            source="Table 11 'Tomato' 30/40/45/30 (145 d), April/May, Mediterranean; Table 12 'Tomato' "
            "0.6/1.15/0.70-0.90 (midpoint), h 0.6 m; FAO-33 tomato",
        ),
        Crop(
            name="apple",
            stage_lengths_d=(30, 50, 130, 30),
            kc_ini=0.45,
            kc_mid=0.95,
            kc_end=0.70,
            height_m=4.0,
            ky=None,
            source="Table 11 'Deciduous Orchard' 30/50/130/30 (240 d), March, California; Table 12 'Apples, "
            "Cherries, Pears - no ground cover, killing frost' 0.45/0.95/0.70, h 4 m; no Ky in FAO-33",
        ),
        Crop(
            name="citrus",
            stage_lengths_d=(60, 90, 120, 95),
            kc_ini=0.70,
            kc_mid=0.65,
            kc_end=0.70,
            height_m=4.0,
            ky=0.95,
            source="Table 11 'Citrus' 60/90/120/95 (365 d), January, Mediterranean; Table 12 'Citrus, no "
            "ground cover - 70% canopy' 0.70/0.65/0.70, h 4 m; FAO-33 citrus 0.8-1.1 (midpoint)",
        ),
        Crop(
            name="grapes",
            stage_lengths_d=(20, 50, 75, 60),
            kc_ini=0.30,
            kc_mid=0.85,
            kc_end=0.45,
            height_m=2.0,
            ky=0.85,
            source="Table 11 'Grapes' 20/50/75/60 (205 d), March, California; Table 12 'Grapes - Table or "
            "Raisin' 0.30/0.85/0.45, h 2 m; FAO-33 grape",
        ),
        Crop(
            name="rice",
            stage_lengths_d=(30, 30, 60, 30),
            kc_ini=1.05,
            kc_mid=1.20,
            kc_end=0.75,
            height_m=1.0,
            ky=None,
            source="Table 11 'Rice' 30/30/60/30 (150 d), Dec/May, Tropics and Mediterranean; Table 12 'Rice' "
            "1.05/1.20/0.90-0.60 (midpoint), h 1 m; no seasonal Ky in FAO-33",
        ),
    )
}


def get_crop(name: str) -> Crop:
    """The crop record named ``name`` (case-insensitive) from :data:`CROPS`."""
    try:
        return CROPS[name.strip().lower()]
    except KeyError:
        raise CropDataError(f"unknown crop {name!r}; known crops: {', '.join(CROPS)}") from None


def climate_adjusted_kc(kc_table: float, u2_m_s: float, rhmin_pct: float, height_m: float) -> float:
    """Adjust a tabulated Kc_mid or Kc_end to the local climate (FAO-56 Eqs. 62 and 65).

    Kc = Kc(Tab) + [0.04 (u2 - 2) - 0.004 (RHmin - 45)] (h/3)^0.3, with u2 [m/s] and RHmin [%] the means of
    the stage and h [m] the mean plant height, limited to 1 <= u2 <= 6, 20 <= RHmin <= 80, 0.1 <= h <= 10 as
    FAO-56 prescribes.
    """
    u2 = float(np.clip(u2_m_s, 1.0, 6.0))
    rhmin = float(np.clip(rhmin_pct, 20.0, 80.0))
    h = float(np.clip(height_m, 0.1, 10.0))
    return kc_table + (0.04 * (u2 - 2) - 0.004 * (rhmin - 45)) * (h / 3) ** 0.3


def _adjusted(kc: float, u2_m_s: pd.Series, rhmin_pct: pd.Series, stage: pd.DatetimeIndex, h_m: float) -> float:
    """Eq. 62/65 with the stage means; the tabulated value when the weather does not cover the stage."""
    u2, rhmin = u2_m_s.reindex(stage).mean(), rhmin_pct.reindex(stage).mean()
    return kc if np.isnan(u2) or np.isnan(rhmin) else climate_adjusted_kc(kc, u2, rhmin, h_m)


def kc_curve(
    crop: Crop,
    planting: pd.Timestamp | str,
    u2_m_s: pd.Series | None = None,
    rhmin_pct: pd.Series | None = None,
    days: int | None = None,
) -> pd.Series:
    """Daily single crop coefficient Kc over one season, indexed by date from the planting day.

    Kc_i = Kc_prev + [(i - sum(L_prev)) / L_stage] (Kc_next - Kc_prev) within the development and late stages
    (FAO-56 Eq. 66). With daily ``u2_m_s`` and ``rhmin_pct`` series, Kc_mid is adjusted with their means over
    the mid-season stage and Kc_end with their means over the late season (Eq. 62); Kc_end is adjusted only
    when the tabulated value exceeds 0.45 (Eq. 65). A stage outside the weather record keeps the table value.
    ``days`` (default: the season length) longer than the season holds Kc_end on the extra days, which lets
    a 365-day perennial season cover a leap year.
    """
    start = pd.Timestamp(planting)
    l_ini, l_dev, l_mid, l_late = crop.stage_lengths_d
    dates = pd.date_range(start, periods=days or crop.season_length_d, freq="D")
    kc_mid, kc_end = crop.kc_mid, crop.kc_end
    if u2_m_s is not None and rhmin_pct is not None:
        mid = dates[l_ini + l_dev : l_ini + l_dev + l_mid]
        late = dates[l_ini + l_dev + l_mid : crop.season_length_d]
        kc_mid = _adjusted(crop.kc_mid, u2_m_s, rhmin_pct, mid, crop.height_m)
        if crop.kc_end > 0.45:
            kc_end = _adjusted(crop.kc_end, u2_m_s, rhmin_pct, late, crop.height_m)
    day = np.arange(1, len(dates) + 1)  # i, the day number within the season
    edges = np.cumsum([0, l_ini, l_dev, l_mid, l_late])
    kc = np.interp(day, edges[1:], [crop.kc_ini, kc_mid, kc_mid, kc_end])
    return pd.Series(kc, index=dates, name=f"kc_{crop.name}")
