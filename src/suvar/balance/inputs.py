"""Validated inputs of an annual water audit (IWA / AWWA M36 top-down audit).

Every volume is for the audit period (``period_days``, default 365) in m³. Each numeric input
``<key>`` may carry an optional 95 % confidence margin ``<key>_margin_pct`` (WB-EasyCalc style)
and a data validity grade ``<key>_grade`` from 1 (poorest) to 10 (best), as in the AWWA Free
Water Audit Software v5/v6. Those flat keys are gathered into :attr:`AuditInputs.margins_pct`
and :attr:`AuditInputs.grades`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MARGIN_SUFFIX = "_margin_pct"
GRADE_SUFFIX = "_grade"


class AuditInputError(ValueError):
    """Audit input that is missing, malformed or out of range; the message names each field."""

    @classmethod
    def from_validation(cls, err: ValidationError, source: str = "audit inputs") -> AuditInputError:
        lines = []
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "(root)"
            got = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
            lines.append(f"  {field}: {e['msg']}{got}")
        return cls(f"{source}: {len(lines)} invalid field(s)\n" + "\n".join(lines))


def _volume(description: str, default: Any = 0.0) -> Any:
    return Field(default=default, ge=0.0, description=description)


class AuditInputs(BaseModel):
    """Inputs of the water balance; see ``docs/balance.md`` for each key's meaning and unit.

    ``None`` for ``unbilled_unmetered_m3``, ``unauthorized_consumption_m3`` and
    ``systematic_data_handling_error_m3`` means "not known": the AWWA Free Water Audit Software
    default is then applied and reported in the result's ``defaults_applied``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Water supplied
    volume_from_own_sources_m3: float = _volume("Volume abstracted/treated from own sources, as metered")
    volume_from_own_sources_meter_error_pct: float = Field(
        0.0, gt=-100.0, lt=100.0, description="Master meter error on own sources; + = over-registration"
    )
    water_imported_m3: float = _volume("Bulk water imported, as metered")
    water_imported_meter_error_pct: float = Field(0.0, gt=-100.0, lt=100.0)
    water_exported_m3: float = _volume("Bulk water exported, as metered")
    water_exported_meter_error_pct: float = Field(0.0, gt=-100.0, lt=100.0)
    # Authorised consumption
    billed_metered_m3: float = _volume("Billed metered consumption (exports excluded)", default=...)
    billed_unmetered_m3: float = _volume("Billed unmetered consumption")
    unbilled_metered_m3: float = _volume("Unbilled metered consumption")
    unbilled_unmetered_m3: float | None = _volume("Unbilled unmetered consumption", default=None)
    # Apparent losses
    unauthorized_consumption_m3: float | None = _volume("Unauthorised consumption (theft)", default=None)
    customer_meter_under_registration_pct: float = Field(
        0.0, ge=0.0, lt=100.0, description="Customer meter under-registration u, % of true consumption"
    )
    systematic_data_handling_error_m3: float | None = _volume("Systematic data handling error", default=None)
    # System data
    mains_length_km: float = Field(..., gt=0.0, description="Length of mains, km")
    service_connections: float = Field(
        ..., ge=0.0, description="Number of active + inactive service connections"
    )
    avg_private_pipe_length_m: float = Field(
        0.0, ge=0.0, description="Mean length of private pipe from property boundary to customer meter, m"
    )
    avg_pressure_m: float = Field(..., gt=0.0, description="Average operating pressure, m")
    supply_hours_per_day: float = Field(
        24.0, gt=0.0, le=24.0, description="Hours per day system is pressurised"
    )
    # Costs
    variable_production_cost_per_m3: float | None = Field(None, ge=0.0)
    customer_retail_unit_cost_per_m3: float | None = Field(None, ge=0.0)
    annual_operating_cost: float | None = Field(None, gt=0.0)
    period_days: float = Field(365.0, gt=0.0, description="Length of the audit period, days")
    # Per-input confidence margins and grades (gathered from the flat <key>_margin_pct / <key>_grade keys)
    margins_pct: dict[str, float] = Field(default_factory=dict)
    grades: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_margins_and_grades(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        margins = dict(data.pop("margins_pct", None) or {})
        grades = dict(data.pop("grades", None) or {})
        for key in list(data):
            if key.endswith(MARGIN_SUFFIX) and key.removesuffix(MARGIN_SUFFIX) in NUMERIC_KEYS:
                margins[key.removesuffix(MARGIN_SUFFIX)] = data.pop(key)
            elif key.endswith(GRADE_SUFFIX) and key.removesuffix(GRADE_SUFFIX) in NUMERIC_KEYS:
                grades[key.removesuffix(GRADE_SUFFIX)] = data.pop(key)
        data["margins_pct"] = margins
        data["grades"] = grades
        return data

    @model_validator(mode="after")
    def _check_margins_and_grades(self) -> AuditInputs:
        for key, margin in self.margins_pct.items():
            if key not in NUMERIC_KEYS:
                raise ValueError(f"margins_pct: {key!r} is not a numeric audit input")
            if not 0.0 <= margin <= 100.0:
                raise ValueError(f"{key}{MARGIN_SUFFIX}: expected 0-100 %, got {margin}")
        for key, grade in self.grades.items():
            if key not in NUMERIC_KEYS:
                raise ValueError(f"grades: {key!r} is not a numeric audit input")
            if not 1 <= grade <= 10:
                raise ValueError(f"{key}{GRADE_SUFFIX}: expected a grade 1-10, got {grade}")
        if self.volume_from_own_sources_m3 + self.water_imported_m3 <= 0.0:
            raise ValueError("volume_from_own_sources_m3 + water_imported_m3 must be > 0")
        return self

    @classmethod
    def parse(cls, data: AuditInputs | dict[str, Any], source: str = "audit inputs") -> AuditInputs:
        """Validate ``data``, raising :class:`AuditInputError` that names every bad field."""
        if isinstance(data, AuditInputs):
            return data
        if not isinstance(data, dict):
            raise AuditInputError(
                f"{source}: expected a JSON object of audit inputs, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise AuditInputError.from_validation(err, source) from None

    def margin(self, key: str) -> float:
        """95 % confidence margin of input ``key`` as a fraction (0 when not given)."""
        return self.margins_pct.get(key, 0.0) / 100.0


NUMERIC_KEYS: tuple[str, ...] = tuple(
    name for name in AuditInputs.model_fields if name not in ("margins_pct", "grades", "period_days")
)
