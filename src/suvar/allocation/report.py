"""The allocation report: one self-contained HTML page per basin, printable to PDF.

Scenario plans side by side (coverage per user as a chart and a table, shortfall, storage, environmental flow
compliance), the reasons behind every shortfall, the published ledger entry, the delivery audit with the users
it flags and the transfers between them, and, for irrigation districts, the expected yield and revenue impact.
"""

from __future__ import annotations

import io
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from suvar.allocation.audit import DeliveryAudit  # noqa: E402
from suvar.allocation.explain import explain  # noqa: E402
from suvar.allocation.scenario import compare_system, compare_users  # noqa: E402
from suvar.allocation.solve import AllocationResult  # noqa: E402


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def coverage_chart(users: pd.DataFrame) -> str:
    """Grouped bars: volumetric coverage of each user under each scenario."""
    table = users.pivot_table(index="user", columns="scenario", values="coverage", sort=False)
    fig, ax = plt.subplots(figsize=(7.6, 2.8), dpi=100)
    width = 0.8 / max(len(table.columns), 1)
    for i, scenario in enumerate(table.columns):
        ax.bar([x + i * width for x in range(len(table))], table[scenario] * 100, width, label=scenario)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(table))], table.index, fontsize=8)
    ax.set_ylabel("coverage, %")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def storage_chart(results: dict[str, AllocationResult]) -> str:
    """Total reservoir storage over the run, per scenario (m³)."""
    fig, ax = plt.subplots(figsize=(7.6, 2.4), dpi=100)
    for name, r in results.items():
        if r.storage_m3.shape[1]:
            ax.plot(r.storage_m3.index.to_pydatetime(), r.storage_m3.sum(axis=1) / 1e6, label=name)
    fig.autofmt_xdate()
    ax.set_ylabel("storage, million m³")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def _table(frame: pd.DataFrame, caption: str, floatfmt: str = "{:,.0f}") -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                text = "–" if v != v else (f"{v:.2f}" if abs(v) < 10 else floatfmt.format(v))
            else:
                text = str(v)
            cells.append(f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><caption>{escape(caption)}</caption><tr>{head}</tr>{''.join(rows)}</table>"


def allocation_report_html(
    title: str,
    results: dict[str, AllocationResult],
    *,
    ledger: dict[str, Any] | None = None,
    audit: DeliveryAudit | None = None,
    yields: pd.DataFrame | None = None,
    plan_scenario: str | None = None,
) -> str:
    """The report of ``results`` (scenario name -> plan). ``plan_scenario`` names the published plan whose
    shortfall reasons are listed (default: the last scenario)."""
    users = compare_users(results)
    system = compare_system(results).reset_index()
    plan_scenario = plan_scenario or list(results)[-1]
    why = explain(results[plan_scenario])
    short = why[why["shortfall_m3"] > 1e-6 * why["requirement_m3"]]
    reasons = (short.groupby(["user", "reason"])["shortfall_m3"].sum().reset_index()
               .sort_values(["user", "shortfall_m3"], ascending=[True, False]))
    parts = [
        f"<h2>Plans side by side</h2>{coverage_chart(users)}",
        _table(users[["scenario", "user", "priority", "body", "requirement_m3", "allocation_m3", "shortfall_m3",
                      "coverage"]], "Per user over the run (m³; coverage = allocation / requirement)"),
        _table(system, "Per scenario: shortfall, storage and environmental flow compliance"),
        storage_chart(results),
        f"<h2>Why the shortfalls ({escape(plan_scenario)} plan)</h2>",
        _table(reasons, "Shortfall by user and binding reason (m³)") if len(reasons) else "<p>No shortfall.</p>",
    ]
    if ledger:
        parts.append("<h2>Publication</h2>" + _table(pd.DataFrame([ledger]), "Ledger entry of the published plan"))
    if audit is not None:
        flagged = audit.users.reset_index(names="user")
        parts += ["<h2>Delivery audit</h2>",
                  _table(flagged[["user", "body", "priority", "planned_m3", "metered_m3", "deviation_m3", "ratio",
                                  "status"]], "Metered against planned, per user"),
                  _table(audit.classes.reset_index(), "Fairness within each priority class (on coverage)"),
                  _table(audit.transfers, "Who gained at whose expense (m³)") if len(audit.transfers)
                  else "<p>No user gained at another's expense.</p>"]
    if yields is not None and len(yields):
        cols = [c for c in ("district", "field", "crop", "relative_et_deficit", "relative_yield_loss",
                            "yield_t_per_ha", "production_t", "revenue", "revenue_loss") if c in yields.columns]
        parts += ["<h2>Expected yield impact (FAO-33)</h2>",
                  _table(yields[cols], "Per field: 1 − Ya/Ym = Ky (1 − ETa/ETm)"),
                  f"<p>Total revenue loss: {yields['revenue_loss'].sum():,.0f}.</p>"]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font: 13px/1.45 system-ui, sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 62rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; border-bottom: 2px solid #0b3d63; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }} caption {{ text-align: left; font-weight: 600; }}
th, td {{ text-align: left; padding: 2px 8px; border-bottom: 1px solid #d0d7de; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body><h1>{escape(title)}</h1>{"".join(parts)}</body></html>"""
