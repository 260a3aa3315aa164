"""The water-audit report: one self-contained HTML page (printable to PDF) per utility and period.

It holds, for the utility and for each zone: the IWA water balance box drawn to scale (SVG), the indicators with
their World Bank Institute bands and 95 % margins, and a night-flow chart. Everything is inline (SVG and CSS), so
the page opens offline and prints as it shows.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

#: The boxes of the IWA balance, column by column, as (output key, label, colour).
BOX_COLUMNS: list[list[tuple[str, str, str]]] = [
    [("system_input_volume_m3", "System input volume", "#4c78a8")],
    [("authorized_consumption_m3", "Authorised consumption", "#72b7b2"),
     ("water_losses_m3", "Water losses", "#e45756")],
    [("billed_authorized_consumption_m3", "Billed authorised", "#54a24b"),
     ("unbilled_authorized_consumption_m3", "Unbilled authorised", "#b279a2"),
     ("apparent_losses_m3", "Apparent losses", "#f58518"),
     ("real_losses_m3", "Real losses", "#e45756")],
    [("revenue_water_m3", "Revenue water", "#54a24b"),
     ("non_revenue_water_m3", "Non-revenue water", "#9d755d")],
]
INDICATORS = [
    ("nrw_pct_volume", "NRW, % of system input", "{:.1f} %"),
    ("real_losses_l_per_conn_per_day", "Real losses, l/connection/day", "{:.0f}"),
    ("ili", "Infrastructure Leakage Index", "{:.2f}"),
    ("band_wbi_original", "WBI band (original A–D)", "{}"),
    ("band_wbi_current", "WBI band (A1/A2/B/C/D)", "{}"),
    ("data_validity_score", "Data validity score (0–100)", "{:.0f}"),
]


def balance_box_svg(result: dict[str, Any], width: int = 760, height: int = 300) -> str:
    """The IWA water balance as an SVG of four columns, each box's height proportional to its volume (m³)."""
    total = max(float(result.get("system_input_volume_m3") or 0.0), 1e-9)
    col_w = width / len(BOX_COLUMNS)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="IWA water balance drawn to scale">']
    for c, column in enumerate(BOX_COLUMNS):
        y = 0.0
        for key, label, colour in column:
            value = max(float(result.get(key) or 0.0), 0.0)
            h = height * value / total
            x = c * col_w
            parts.append(f'<rect x="{x + 2:.1f}" y="{y:.1f}" width="{col_w - 4:.1f}" height="{h:.1f}" '
                         f'fill="{colour}" stroke="#fff"><title>{escape(label)}: {value:,.0f} m³</title></rect>')
            if h >= 28:
                pct = 100 * value / total
                parts.append(f'<text x="{x + 6:.1f}" y="{y + 13:.1f}" font-size="11" fill="#fff">{escape(label)}'
                             f'<tspan x="{x + 6:.1f}" dy="13">{value:,.0f} m³ · {pct:.1f} %</tspan></text>')
            y += h
    parts.append("</svg>")
    return "".join(parts)


def night_flow_svg(night: pd.DataFrame, title: str) -> str:
    """Daily minimum night flow, legitimate night use and net night flow (m³/h) as an inline SVG chart."""
    fig, ax = plt.subplots(figsize=(7.6, 2.4), dpi=100)
    x = pd.to_datetime(night.index)
    ax.plot(x, night["mnf_m3h"], label="minimum night flow", color="#4c78a8")
    ax.plot(x, night["legitimate_night_use_m3h"], label="legitimate night use", color="#54a24b")
    ax.fill_between(x, night["legitimate_night_use_m3h"], night["mnf_m3h"], color="#e45756", alpha=0.3,
                    label="net night flow (leakage)")
    ax.set_ylabel("m³/h")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _margin(result: dict[str, Any], key: str) -> str:
    pct = result.get(key.replace("_m3", "_margin_pct"))
    return f"± {pct:.1f} %" if isinstance(pct, int | float) else ""


def _section(title: str, result: dict[str, Any], night: pd.DataFrame | None, notes: list[str]) -> str:
    rows = []
    for key, label, fmt in INDICATORS:
        value = result.get(key)
        shown = fmt.format(value) if isinstance(value, int | float | str) and value == value else "–"
        extra = ""
        if key == "ili" and result.get("ili_valid") is False:
            extra = " (indicative: " + escape("; ".join(result.get("ili_validity_notes") or [])) + ")"
        rows.append(f"<tr><th>{escape(label)}</th><td>{escape(shown)}{extra}</td></tr>")
    volumes = []
    for key in ("system_input_volume_m3", "authorized_consumption_m3", "water_losses_m3", "apparent_losses_m3",
                "real_losses_m3", "non_revenue_water_m3"):
        value = result.get(key)
        if isinstance(value, int | float):
            volumes.append(f"<tr><th>{escape(key.removesuffix('_m3').replace('_', ' '))}</th>"
                           f"<td>{value:,.0f} m³</td><td>{_margin(result, key)}</td></tr>")
    chart = night_flow_svg(night, f"{title}: night flow") if night is not None and len(night) else ""
    note_html = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return (f"<section><h2>{escape(title)}</h2>{balance_box_svg(result)}"
            f'<div class="cols"><table><caption>Volumes, 95 % margins</caption>{"".join(volumes)}</table>'
            f'<table><caption>Indicators</caption>{"".join(rows)}</table></div>{chart}'
            f'<ul class="notes">{note_html}</ul></section>')


def audit_report_html(
    title: str, period: str, sections: list[tuple[str, dict[str, Any], pd.DataFrame | None, list[str]]],
) -> str:
    """The full report. ``sections`` holds (heading, water-balance result, night-flow frame, notes)."""
    body = "".join(_section(*s) for s in sections)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font: 13px/1.45 system-ui, sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 60rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; border-bottom: 2px solid #0b3d63; }}
table {{ border-collapse: collapse; margin: .5rem 1rem .5rem 0; }} caption {{ text-align: left; font-weight: 600; }}
th, td {{ text-align: left; padding: 2px 8px; border-bottom: 1px solid #d0d7de; }}
.cols {{ display: flex; flex-wrap: wrap; }} .notes {{ color: #57606a; font-size: 12px; }}
section {{ break-inside: avoid; page-break-inside: avoid; margin-bottom: 1.5rem; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body><h1>{escape(title)}</h1><p>Period: {escape(period)}. IWA water balance (Alegre et al., 2006;
AWWA M36, 4th ed.). Margins are 95 % confidence intervals propagated from each input's margin.</p>{body}
</body></html>"""
