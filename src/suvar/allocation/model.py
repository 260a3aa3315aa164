"""Basin model: supply, conveyance, demands and operating rules, validated with pydantic.

All volumes are **m³ per time step** (the step is a day or a calendar month, set by ``time_step``). A series
field takes either one number (the same every step) or a list of exactly ``n_steps`` numbers. The model is a
directed graph: catchments, groundwater bodies and reservoirs supply water, junctions split and join it,
demands consume it, outlets take what leaves the basin; links (river reaches, canals, pipes) carry it with a
proportional loss. ``docs/basin-model.md`` documents every field.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SeriesM3 = float | list[float]
SharingRule = Literal["equal_coverage", "proportional", "cea", "cel", "talmud", "seniority"]
SHARING_RULES: tuple[str, ...] = SharingRule.__args__  # type: ignore[attr-defined]


class BasinError(ValueError):
    """A basin file that cannot be read or does not describe a valid basin."""


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(min_length=1)


def _non_negative(value: SeriesM3 | None, name: str) -> SeriesM3 | None:
    values = [value] if isinstance(value, int | float) else (value or [])
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{name} must be finite and >= 0 m³ per step")
    return value


class Catchment(_Item):
    """Natural inflow (a river head or a lateral catchment) entering the network at this node."""

    inflow_m3: SeriesM3

    _check = field_validator("inflow_m3")(lambda v: _non_negative(v, "inflow_m3"))


class Reservoir(_Item):
    """Storage node; continuity ``s_t = s_(t-1) + inflow - release - evaporation``."""

    capacity_m3: float = Field(gt=0)
    dead_storage_m3: float = Field(default=0.0, ge=0)
    initial_storage_m3: float = Field(ge=0)
    evaporation_m3: SeriesM3 = 0.0
    carry_over_target_m3: float | None = Field(default=None, ge=0)
    carry_over_priority: int | None = Field(default=None, ge=1)

    _check = field_validator("evaporation_m3")(lambda v: _non_negative(v, "evaporation_m3"))

    @model_validator(mode="after")
    def _levels(self) -> Reservoir:
        for name in ("dead_storage_m3", "initial_storage_m3", "carry_over_target_m3"):
            value = getattr(self, name)
            if value is not None and value > self.capacity_m3:
                raise ValueError(f"{name} = {value} exceeds capacity_m3 = {self.capacity_m3}")
        if (self.carry_over_target_m3 is None) != (self.carry_over_priority is None):
            raise ValueError("carry_over_target_m3 and carry_over_priority must be given together")
        return self


class Groundwater(_Item):
    """Aquifer abstraction point; at most ``sustainable_yield_m3`` per step."""

    sustainable_yield_m3: SeriesM3

    _check = field_validator("sustainable_yield_m3")(lambda v: _non_negative(v, "sustainable_yield_m3"))


class Junction(_Item):
    """Mass-balance node without storage (confluence, diversion, off-take)."""


class Outlet(_Item):
    """Where water leaves the basin (sea, downstream boundary); takes any amount."""


class Link(_Item):
    """River reach, canal or pipe: ``outflow = (1 - loss_fraction) * inflow``; capacity bounds the inflow."""

    from_node: str = Field(alias="from")
    to: str
    kind: Literal["river", "canal", "pipe"] = "canal"
    capacity_m3: SeriesM3 | None = None
    loss_fraction: float = Field(default=0.0, ge=0, lt=1)
    min_flow_m3: SeriesM3 | None = None

    _check = field_validator("capacity_m3", "min_flow_m3")(lambda v, info: _non_negative(v, info.field_name))


class Demand(_Item):
    """A water user. Its requirement each step is ``min(demand_m3, entitlement_m3)``."""

    kind: Literal["city", "irrigation", "industry", "environment"]
    demand_m3: SeriesM3
    priority: int = Field(ge=1)
    entitlement_m3: SeriesM3 | None = None
    minimum_vital_m3: SeriesM3 | None = None
    body: str = Field(min_length=1)
    seniority: date | None = None

    _check = field_validator("demand_m3", "entitlement_m3", "minimum_vital_m3")(
        lambda v, info: _non_negative(v, info.field_name)
    )


class Basin(BaseModel):
    """A river basin with its supply, conveyance, users and operating rules."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    time_step: Literal["day", "month"]
    start: date
    n_steps: int = Field(ge=1)
    catchments: list[Catchment] = []
    reservoirs: list[Reservoir] = []
    groundwater: list[Groundwater] = []
    junctions: list[Junction] = []
    outlets: list[Outlet] = []
    links: list[Link] = []
    demands: list[Demand] = []
    sharing: dict[int, SharingRule] = {}

    @model_validator(mode="after")
    def _graph(self) -> Basin:
        kinds = {
            "catchments": self.catchments,
            "reservoirs": self.reservoirs,
            "groundwater": self.groundwater,
            "junctions": self.junctions,
            "outlets": self.outlets,
            "demands": self.demands,
        }
        seen: dict[str, str] = {}
        for kind, items in kinds.items():
            for i, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(f"{kind}[{i}].id: '{item.id}' is already used by {seen[item.id]}")
                seen[item.id] = kind
        link_ids = set()
        for i, link in enumerate(self.links):
            if link.id in link_ids or link.id in seen:
                raise ValueError(f"links[{i}].id: '{link.id}' is not unique")
            link_ids.add(link.id)
            for end, node in (("from", link.from_node), ("to", link.to)):
                if node not in seen:
                    raise ValueError(f"links[{i}].{end}: unknown node '{node}'")
            if seen[link.from_node] in ("demands", "outlets"):
                raise ValueError(
                    f"links[{i}].from: '{link.from_node}' is a {seen[link.from_node][:-1]}; "
                    "water cannot leave it"
                )
            if seen[link.to] in ("catchments", "groundwater"):
                raise ValueError(f"links[{i}].to: '{link.to}' is a source; water cannot enter it")
        for kind, items in {**kinds, "links": self.links}.items():
            for i, item in enumerate(items):
                for name, value in item:
                    if isinstance(value, list) and len(value) != self.n_steps:
                        raise ValueError(
                            f"{kind}[{i}].{name}: {len(value)} values, expected n_steps = "
                            f"{self.n_steps} (or a single number)"
                        )
        priorities = {d.priority for d in self.demands}
        for p in self.sharing:
            if p not in priorities:
                raise ValueError(
                    f"sharing: priority class {p} has no demands (classes: {sorted(priorities)})"
                )
        for i, d in enumerate(self.demands):
            if self.sharing.get(d.priority) == "seniority" and d.seniority is None:
                raise ValueError(f"demands[{i}].seniority: required, class {d.priority} shares by seniority")
        return self

    def rule(self, priority: int) -> str:
        """Sharing rule of a priority class (default ``equal_coverage``)."""
        return self.sharing.get(priority, "equal_coverage")


def series_m3(value: SeriesM3 | None, n_steps: int, default: float = 0.0) -> np.ndarray:
    """Expand a series field (one number or ``n_steps`` numbers) to an array of m³ per step."""
    if value is None:
        return np.full(n_steps, default)
    if isinstance(value, int | float):
        return np.full(n_steps, float(value))
    return np.asarray(value, dtype=float)


def load_basin(path: str | Path) -> Basin:
    """Read a basin from YAML (``.yaml``/``.yml``) or JSON; errors name the file and the field."""
    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise BasinError(f"{path}: cannot read basin file: {exc}") from exc
    return parse_basin(data, source=str(path))


def parse_basin(data: object, source: str = "<basin>") -> Basin:
    """Validate a basin from a mapping; errors name ``source`` and the offending field."""
    try:
        return Basin.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{loc}: {msg}" if loc else msg)
        raise BasinError(f"{source}: invalid basin:\n  " + "\n  ".join(lines)) from None


def basin_sha256(basin: Basin) -> str:
    """SHA-256 of the basin's canonical JSON: the inputs hash a publication records."""
    import hashlib

    from suvar.ledger import canonical_json

    return hashlib.sha256(canonical_json(basin.model_dump(mode="json", by_alias=True))).hexdigest()
