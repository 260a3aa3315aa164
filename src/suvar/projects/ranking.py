"""Water-loss reduction projects: appraisal (EAC, benefit, B/C, NPV, cost per m³) and ranking."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from suvar.projects.economics import capital_recovery_factor

ProjectKind = Literal[
    "pressure_management", "active_leakage_control", "meter_replacement", "mains_replacement"
]
LossType = Literal["real", "apparent"]
Metric = Literal["bc_ratio", "npv", "cost_per_m3_saved"]

#: Which loss each kind of project reduces when ``loss_type`` is not given.
DEFAULT_LOSS_TYPE: dict[str, LossType] = {
    "pressure_management": "real",
    "active_leakage_control": "real",
    "meter_replacement": "apparent",
    "mains_replacement": "real",
}


class ProjectInputError(ValueError):
    """Bad project data; the message names the file and each field."""


class Project(BaseModel):
    """One loss-reduction project; money in one currency, volumes in m³ per year."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1)
    kind: ProjectKind
    capex: float = Field(..., ge=0.0)
    life_years: float = Field(..., gt=0.0)
    opex_per_year: float = Field(0.0, ge=0.0)
    water_saved_m3_per_year: float = Field(..., gt=0.0)
    loss_type: LossType | None = None
    unit_value_per_m3: float | None = Field(None, ge=0.0, description="Overrides the portfolio's unit value")

    @property
    def saves(self) -> LossType:
        return self.loss_type or DEFAULT_LOSS_TYPE[self.kind]


class Portfolio(BaseModel):
    """Projects with the discount rate and the unit values of saved water.

    Real losses saved are valued at ``variable_production_cost_per_m3`` (or the retail cost when
    ``real_losses_at_retail``); apparent losses recovered at ``customer_retail_unit_cost_per_m3``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    discount_rate: float = Field(..., gt=-1.0, lt=1.0)
    variable_production_cost_per_m3: float | None = Field(None, ge=0.0)
    customer_retail_unit_cost_per_m3: float | None = Field(None, ge=0.0)
    real_losses_at_retail: bool = False
    projects: list[Project] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _every_project_has_a_value(self) -> Portfolio:
        for i, p in enumerate(self.projects):
            if p.unit_value_per_m3 is None and self.unit_value(p) is None:
                needed = (
                    "customer_retail_unit_cost_per_m3"
                    if p.saves == "apparent" or self.real_losses_at_retail
                    else "variable_production_cost_per_m3"
                )
                raise ValueError(f"projects[{i}] ({p.name}): no unit_value_per_m3 and no {needed}")
        return self

    def unit_value(self, p: Project) -> float | None:
        """Value of one m³ saved by project ``p``, or ``None`` when the portfolio lacks it."""
        if p.unit_value_per_m3 is not None:
            return p.unit_value_per_m3
        if p.saves == "apparent" or self.real_losses_at_retail:
            return self.customer_retail_unit_cost_per_m3
        return self.variable_production_cost_per_m3

    @classmethod
    def parse(cls, data: Any, source: str = "portfolio") -> Portfolio:
        """Validate ``data``; raise :class:`ProjectInputError` naming ``source`` and each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            lines = [f"  {'.'.join(str(x) for x in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()]
            raise ProjectInputError(f"{source}: {len(lines)} invalid field(s)\n" + "\n".join(lines)) from None


def appraise(project: Project, portfolio: Portfolio) -> dict[str, Any]:
    """Economic appraisal of one project.

    ``EAC = capex x CRF(i, n) + opex``; annual benefit ``B = saved x unit value``;
    ``B/C = B / EAC``; ``NPV = (B - opex) / CRF - capex`` (the present value over the life);
    cost per m³ saved ``= EAC / saved``.
    """
    crf = capital_recovery_factor(portfolio.discount_rate, project.life_years)
    eac = project.capex * crf + project.opex_per_year
    value = portfolio.unit_value(project)
    assert value is not None  # guaranteed by Portfolio validation
    benefit = project.water_saved_m3_per_year * value
    return {
        "name": project.name,
        "kind": project.kind,
        "loss_type": project.saves,
        "unit_value_per_m3": value,
        "crf": crf,
        "eac_per_year": eac,
        "benefit_per_year": benefit,
        "bc_ratio": benefit / eac if eac > 0 else float("inf"),
        "npv": (benefit - project.opex_per_year) / crf - project.capex,
        "cost_per_m3_saved": eac / project.water_saved_m3_per_year,
        "water_saved_m3_per_year": project.water_saved_m3_per_year,
    }


def rank_projects(portfolio: Portfolio | dict[str, Any], metric: Metric = "bc_ratio") -> list[dict[str, Any]]:
    """Appraise every project and rank them, best first, by ``metric``.

    ``bc_ratio`` (default) and ``npv`` rank high to low, ``cost_per_m3_saved`` low to high. Each row
    gets ``rank`` (1 = best) and ``ranked_by``.
    """
    if metric not in ("bc_ratio", "npv", "cost_per_m3_saved"):
        raise ValueError(f"metric must be bc_ratio, npv or cost_per_m3_saved, got {metric!r}")
    pf = portfolio if isinstance(portfolio, Portfolio) else Portfolio.parse(portfolio)
    rows = [appraise(p, pf) for p in pf.projects]
    rows.sort(key=lambda r: r[metric], reverse=metric != "cost_per_m3_saved")
    return [{"rank": i, "ranked_by": metric, **r} for i, r in enumerate(rows, start=1)]
