"""Per-step allocation LP (HiGHS) with lexicographic stages and selectable sharing rules.

Formulation (all volumes m³ per step; one persistent ``highspy`` model per hydraulically independent part of
the basin, see :func:`components`, solved step after step):

* link flow ``x_l`` in ``[0, capacity_l]``; the head receives ``(1 - loss_l) x_l``;
* node mass balance ``sum_in (1 - loss) x - sum_out x + source - sink = 0``, where a catchment's source is its
  inflow, a groundwater body's is ``g <= sustainable_yield``, a demand's sink is its delivery
  ``d_i <= requirement_i = min(demand_i, entitlement_i)``, an outlet's sink is unbounded;
* reservoir continuity ``s_t = s_(t-1) + in - out - evap`` with ``evap = min(evaporation, s_(t-1))`` and
  ``min(dead_storage, s_(t-1) - evap) <= s_t <= capacity``.

Only bounds and right-hand sides change between steps (``changeColsBounds``/``changeRowsBounds``). A step
that can meet every requirement, minimum flow and carry-over target is settled by one LP (tried after such a
step); otherwise it is solved in stages, each fixing what it decided before the next: (1) minimum vital
quantities of all users, (2) minimum environmental flows of links, then for each priority class
``p = 1, 2, ...`` (1 is the most senior): (3a) carry-over targets of reservoirs whose ``carry_over_priority``
is ``p`` (storage kept before class ``p`` is served), (3b) the class's sharing rule; finally (4) water nobody
was given is stored rather than spilled (maximise total storage). A lower class therefore gets only water that
higher classes cannot use.

Sharing rules share one mechanism, iterated max-min ("progressive filling", Nace & Pióro 2008, *IEEE Comm.
Surveys* 10(4)): maximise a common level ``t`` subject to ``d_i >= b_i + w_i t`` for the free users, freeze
every user whose row has a non-zero dual (complementary slackness: that row is tight in every optimum, so the
user cannot rise above ``t*`` without lowering someone at or below ``t*``), and repeat until all are frozen or
``t`` reaches its cap. With ``w_i = requirement_i`` this is equal coverage (leximin on
``delivered/requirement``); with ``w_i = entitlement_i`` proportional to entitlement; with ``w_i = 1`` CEA
(leximin on awards); with ``w_i = 1, b_i = requirement_i, t <= 0`` CEL (``t`` is minus the common loss).
On a single pool without other constraints these reduce to the claims rules of :mod:`.rules`.

*Talmud* has no leximin form, so it is generalised through targets: maximise the class total ``T``, take the
Talmud awards ``a = talmud(T, requirements)`` as targets, fill them by leximin on ``d_i / a_i`` with
``d_i <= a_i``, then share what is still deliverable (when users are separately constrained and some targets
were unreachable) by equal coverage. Without separate constraints the result is exactly ``a``.

*Seniority* (prior appropriation): users are served in order of their seniority date (equal dates share by
equal coverage); a senior's delivery is fixed before juniors are served, so a junior upstream is curtailed
whenever the water is needed to reach a senior downstream (a "senior call").

Binding reasons are read from the dual solution of the LP at which a user was frozen: a link at capacity, an
environmental flow or carry-over target held by an earlier stage, a higher class (or senior) whose fixed
delivery holds the water, users of the same class frozen earlier (the rule), otherwise exhausted supply.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import highspy
import numpy as np
import pandas as pd

from .model import Basin, series_m3
from .rules import talmud

INF = highspy.kHighsInf
_DUAL_TOL = 1e-9
_REASON_ORDER = (
    "capacity",
    "environmental_flow",
    "carry_over",
    "vital",
    "priority",
    "seniority",
    "rule",
    "supply",
)


class InfeasibleBasinError(ValueError):
    """The basin's hard constraints cannot all hold at a step; ``relaxations`` says which to relax."""

    def __init__(self, step: int, relaxations: list[dict]) -> None:
        self.step = step
        self.relaxations = relaxations
        lines = [f"  {r['constraint']} by {r['amount_m3']:.6g} m³" for r in relaxations]
        super().__init__(f"basin infeasible at step {step}; it becomes feasible by relaxing:\n" + "\n".join(lines))


@dataclass
class AllocationResult:
    """Outputs of :func:`allocate`, all in m³ per step, indexed by the step's start date."""

    basin: Basin
    requirement_m3: pd.DataFrame
    delivered_m3: pd.DataFrame
    link_flow_m3: pd.DataFrame
    min_flow_m3: pd.DataFrame
    storage_m3: pd.DataFrame
    groundwater_m3: pd.DataFrame
    outlet_m3: pd.DataFrame
    reasons: pd.DataFrame = field(repr=False)
    """Long table: ``step, user, reason, source`` for every user short of its requirement."""

    @property
    def coverage(self) -> pd.DataFrame:
        """``delivered / requirement`` (NaN where the requirement is zero)."""
        return self.delivered_m3 / self.requirement_m3.where(self.requirement_m3 > 0)


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance with its output off. HiGHS prints its banner to the process's standard output (file
    descriptor 1, below Python) when the first instance is made, which would corrupt JSON printed by the CLI, so
    that descriptor is pointed at /dev/null while the instance is made."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


class _Layout:
    """Column and row indices of the persistent LP, built from ids sorted so the file order never matters."""

    def __init__(self, basin: Basin) -> None:
        n = basin.n_steps
        self.links = sorted(basin.links, key=lambda x: x.id)
        self.gws = sorted(basin.groundwater, key=lambda x: x.id)
        self.ress = sorted(basin.reservoirs, key=lambda x: x.id)
        self.dems = sorted(basin.demands, key=lambda x: x.id)
        self.outs = sorted(basin.outlets, key=lambda x: x.id)
        self.cats = sorted(basin.catchments, key=lambda x: x.id)
        self.juns = sorted(basin.junctions, key=lambda x: x.id)
        self.carry = [r for r in self.ress if r.carry_over_target_m3 is not None]
        c = 0
        self.x = np.arange(c, c + len(self.links))
        c += len(self.links)
        self.g = np.arange(c, c + len(self.gws))
        c += len(self.gws)
        self.s = np.arange(c, c + len(self.ress))
        c += len(self.ress)
        self.d = np.arange(c, c + len(self.dems))
        c += len(self.dems)
        self.o = np.arange(c, c + len(self.outs))
        c += len(self.outs)
        self.t = c
        c += 1
        self.u = np.arange(c, c + len(self.carry))
        c += len(self.carry)
        self.n_cols = c
        self.cap = np.array([series_m3(lk.capacity_m3, n, INF) for lk in self.links]).reshape(-1, n)
        self.minflow = np.array([series_m3(lk.min_flow_m3, n) for lk in self.links]).reshape(-1, n)
        self.yield_ = np.array([series_m3(g.sustainable_yield_m3, n) for g in self.gws]).reshape(-1, n)
        self.inflow = np.array([series_m3(k.inflow_m3, n) for k in self.cats]).reshape(-1, n)
        self.evap = np.array([series_m3(r.evaporation_m3, n) for r in self.ress]).reshape(-1, n)
        dem = np.array([series_m3(d.demand_m3, n) for d in self.dems]).reshape(-1, n)
        ent = np.array([series_m3(d.entitlement_m3, n, INF) for d in self.dems]).reshape(-1, n)
        self.req = np.minimum(dem, ent)
        self.ent = np.where(np.isfinite(ent), ent, dem)
        self.vital = np.minimum(
            np.array([series_m3(d.minimum_vital_m3, n) for d in self.dems]).reshape(-1, n), self.req
        )
        self.res_cap = np.array([r.capacity_m3 for r in self.ress])
        self.res_dead = np.array([r.dead_storage_m3 for r in self.ress])
        self.res_init = np.array([r.initial_storage_m3 for r in self.ress])
        self.carry_target = np.array([r.carry_over_target_m3 for r in self.carry], dtype=float)
        # The LP works in units of `scale` m³ (a power of two, so scaling back is exact) keeping its numbers
        # below ~1e3: HiGHS's absolute tolerances (1e-7) then hold for basins of any size.
        arrays = (
            "cap",
            "minflow",
            "yield_",
            "inflow",
            "evap",
            "req",
            "ent",
            "vital",
            "res_cap",
            "res_dead",
            "res_init",
            "carry_target",
        )
        finite = [a[np.isfinite(a)] for a in (getattr(self, name) for name in arrays)]
        largest = max((float(a.max()) for a in finite if a.size), default=1.0)
        self.scale = 2.0 ** np.ceil(np.log2(largest / 1e3)) if largest > 1e3 else 1.0
        for name in arrays:
            setattr(self, name, getattr(self, name) / self.scale)
        self.priority = np.array([d.priority for d in self.dems], dtype=int)
        self.classes = sorted(set(self.priority.tolist()))
        # rows: node balances, share rows (one per demand and per link with a minimum flow), carry-over rows
        self.node_row: dict[str, int] = {}
        for group in (self.cats, self.gws, self.ress, self.juns, self.dems, self.outs):
            for item in group:
                self.node_row[item.id] = len(self.node_row)
        self.share_d = np.arange(len(self.node_row), len(self.node_row) + len(self.dems))
        start = len(self.node_row) + len(self.dems)
        env = self.minflow.any(axis=1) if len(self.links) else np.zeros(0, dtype=bool)
        self.share_x = np.full(len(self.links), -1)  # only links with a minimum flow have a share row
        self.share_x[env] = np.arange(start, start + int(env.sum()))
        start += int(env.sum())
        self.carry_rows = np.arange(start, start + len(self.carry))
        self.n_rows = start + len(self.carry)
        self.cat_rows = np.array([self.node_row[k.id] for k in self.cats], dtype=np.int32)
        self.res_rows = np.array([self.node_row[r.id] for r in self.ress], dtype=np.int32)

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row-wise (CSR) constraint matrix."""
        rows: list[list[tuple[int, float]]] = [[] for _ in range(self.n_rows)]
        for k, lk in enumerate(self.links):
            rows[self.node_row[lk.from_node]].append((int(self.x[k]), -1.0))
            rows[self.node_row[lk.to]].append((int(self.x[k]), 1.0 - lk.loss_fraction))
            if self.share_x[k] >= 0:
                rows[self.share_x[k]].append((int(self.x[k]), 1.0))
        for k, g in enumerate(self.gws):
            rows[self.node_row[g.id]].append((int(self.g[k]), 1.0))
        for k, r in enumerate(self.ress):
            rows[self.node_row[r.id]].append((int(self.s[k]), -1.0))
        for k, d in enumerate(self.dems):
            rows[self.node_row[d.id]].append((int(self.d[k]), -1.0))
            rows[self.share_d[k]].append((int(self.d[k]), 1.0))
        for k, o in enumerate(self.outs):
            rows[self.node_row[o.id]].append((int(self.o[k]), -1.0))
        ress = {r.id: k for k, r in enumerate(self.ress)}
        for k, r in enumerate(self.carry):
            rows[self.carry_rows[k]] += [(int(self.s[ress[r.id]]), 1.0), (int(self.u[k]), -1.0)]
        starts, idx, val = [0], [], []
        for entries in rows:
            for j, v in sorted(entries):
                idx.append(j)
                val.append(v)
            starts.append(len(idx))
        return np.array(starts[:-1], dtype=np.int32), np.array(idx, dtype=np.int32), np.array(val)


class _StepSolver:
    """The persistent HiGHS model of one basin and the staged solve of one step."""

    def __init__(self, basin: Basin) -> None:
        self.basin = basin
        self.lay = lay = _Layout(basin)
        h = self.h = quiet_highs()
        h.setOptionValue("presolve", "off")
        h.setOptionValue("random_seed", 0)
        h.setOptionValue("simplex_strategy", 4)  # primal: stages only tighten bounds of a feasible point
        self.lo = np.zeros(lay.n_cols)
        self.hi = np.full(lay.n_cols, INF)
        self.costed: np.ndarray = np.array([], dtype=np.int32)
        empty = np.array([], dtype=np.int32)
        h.addCols(lay.n_cols, np.zeros(lay.n_cols), self.lo, self.hi, 0, empty, empty, np.array([]))
        starts, idx, val = lay.matrix()
        h.addRows(lay.n_rows, np.full(lay.n_rows, -INF), np.full(lay.n_rows, INF), len(idx), starts, idx, val)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.storage = lay.res_init.copy()
        self.probe = True
        self.coef = np.zeros(lay.n_rows)  # coefficient of t in each row
        self.is_floor = np.zeros(lay.n_cols, dtype=bool)
        self.is_floor[lay.x] = self.is_floor[lay.s] = True

    # -- bounds and solves ---------------------------------------------------------------------------------
    def _col_bounds(self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        if len(cols):
            cols = np.asarray(cols, dtype=np.int32)
            self.lo[cols], self.hi[cols] = lo, hi
            self.h.changeColsBounds(len(cols), cols, self.lo[cols], self.hi[cols])

    def _row_bounds(self, rows: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float) -> None:
        if len(rows):
            n = len(rows)
            lo = np.full(n, lo) if np.isscalar(lo) else np.asarray(lo, float)
            hi = np.full(n, hi) if np.isscalar(hi) else np.asarray(hi, float)
            self.h.changeRowsBounds(n, np.asarray(rows, dtype=np.int32), lo, hi)

    def _solve(self, costs: dict[int, float]) -> highspy.HighsSolution:
        h = self.h
        if len(self.costed):
            h.changeColsCost(len(self.costed), self.costed, np.zeros(len(self.costed)))
        self.costed = np.array(list(costs), dtype=np.int32)
        if costs:
            h.changeColsCost(len(costs), self.costed, np.array(list(costs.values()), dtype=float))
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise _Infeasible(h.modelStatusToString(status))
        return h.getSolution()

    def _set_step(self, t: int) -> None:
        lay = self.lay
        self.evap = np.minimum(lay.evap[:, t], self.storage)
        self._col_bounds(lay.x, 0.0, lay.cap[:, t])
        self._col_bounds(lay.g, 0.0, lay.yield_[:, t])
        self._col_bounds(lay.s, np.minimum(lay.res_dead, self.storage - self.evap), lay.res_cap)
        self._col_bounds(lay.d, 0.0, lay.req[:, t])
        self._col_bounds(lay.o, 0.0, INF)
        self._col_bounds(lay.u, 0.0, lay.carry_target)
        self._row_bounds(np.arange(len(lay.node_row)), 0.0, 0.0)
        self._row_bounds(lay.cat_rows, -lay.inflow[:, t], -lay.inflow[:, t])
        self._row_bounds(lay.res_rows, self.evap - self.storage, self.evap - self.storage)
        self._row_bounds(np.concatenate([lay.share_d, lay.share_x[lay.share_x >= 0]]), -INF, INF)
        self._row_bounds(lay.carry_rows, 0.0, INF)
        self.fixed = np.zeros(lay.n_cols, dtype=bool)
        self.tag: dict[int, tuple[str, str]] = {}  # fixed column -> (reason, source) of the stage that fixed it

    def _fix(self, cols: np.ndarray, values: np.ndarray, tag: tuple[str, str]) -> None:
        """Hold what a stage decided: deliveries exactly, link flows and storages as floors."""
        cols = np.asarray(cols, dtype=np.int32)
        lo = np.minimum(np.maximum(0.0, values), self.hi[cols])
        self._col_bounds(cols, lo, np.where(self.is_floor[cols], self.hi[cols], lo))
        self.fixed[cols] = True
        self.tag.update(dict.fromkeys(cols.tolist(), tag))

    # -- stages --------------------------------------------------------------------------------------------
    def _leximin(
        self,
        cols: np.ndarray,
        rows: np.ndarray,
        w: np.ndarray,
        b: np.ndarray,
        t_lo: float,
        t_hi: float,
        tag: tuple[str, str],
        rule: str,
    ) -> dict[int, list[tuple[str, str]]]:
        """Iterated max-min of ``t`` with ``col_i >= b_i + w_i t``; fixes each column at its frozen level.

        Returns the binding reasons (read from the duals) of each column frozen before ``t`` reached
        ``t_hi``.
        """
        h, lay = self.h, self.lay
        reasons: dict[int, list[tuple[str, str]]] = {}
        # a share row only acts while its bounds are set, so a coefficient left from an earlier stage is harmless
        # and is changed only when it differs
        for i in np.flatnonzero(self.coef[rows] != -w).tolist():
            h.changeCoeff(int(rows[i]), lay.t, -float(w[i]))
        self.coef[rows] = -w
        self._row_bounds(rows, b, INF)
        free = np.arange(len(cols))
        while len(free):
            h.changeColBounds(lay.t, t_lo, t_hi)
            sol = self._solve({lay.t: 1.0})
            level = sol.col_value[lay.t]
            if level >= t_hi - 1e-9:
                frozen, rest, why = free, free[:0], None
            else:
                # dual of the row scaled to coverage units (divided by 1/w): d t* / d coverage_i
                row_dual = np.asarray(sol.row_dual)[rows[free]] * np.maximum(np.abs(w[free]), 1e-12)
                blocked = np.abs(row_dual) > _DUAL_TOL
                if not blocked.any():  # degenerate duals: nobody provably blocked, stop here
                    blocked[:] = True
                frozen, rest, why = free[blocked], free[~blocked], self._binding(sol, tag, rule)
            self._fix(cols[frozen], b[frozen] + w[frozen] * level, tag)
            if why is not None:
                reasons |= dict.fromkeys(cols[frozen].tolist(), why)
            self._row_bounds(rows[frozen], -INF, INF)
            free = rest
        return reasons

    def _binding(self, sol: highspy.HighsSolution, stage: tuple[str, str], rule: str) -> list[tuple[str, str]]:
        """Binding constraints besides the share rows: columns at a bound with a non-zero reduced cost."""
        lay = self.lay
        value = np.asarray(sol.col_value)
        # a bound binds when moving it by 1 % of the value (at least 1e-4 LP units) would move t* noticeably
        dual = np.abs(np.asarray(sol.col_dual)) * np.maximum(np.abs(value), 1e-2) > 100 * _DUAL_TOL
        hi = np.where(np.isfinite(self.hi), self.hi, np.inf)
        at_hi = value >= hi - 1e-7 * np.maximum(1.0, np.abs(np.where(np.isfinite(hi), hi, 0.0)))
        at_lo = value <= self.lo + 1e-7 * np.maximum(1.0, np.abs(self.lo))
        found: set[tuple[str, str]] = set()
        for k in np.flatnonzero(dual[lay.x] & at_hi[lay.x]):
            found.add(("capacity", lay.links[k].id))
        for col in np.flatnonzero(dual & self.fixed & at_lo):
            found.add(("rule", rule) if self.tag[col] == stage else self.tag[col])
        for k in np.flatnonzero(dual[lay.g] & at_hi[lay.g]):
            found.add(("supply", lay.gws[k].id))
        for k in np.flatnonzero(dual[lay.s] & at_lo[lay.s] & ~self.fixed[lay.s]):
            found.add(("supply", lay.ress[k].id))
        return sorted(found, key=lambda r: (_REASON_ORDER.index(r[0]), r[1])) or [("supply", "")]

    def step(self, t: int) -> dict[str, object]:
        """Solve step ``t``: deliveries, flows and storages (``value``) and binding reasons per column."""
        lay = self.lay
        self._set_step(t)
        try:
            # the probe only saves work (an all-met step gives the same plan through the stages), so it is
            # skipped while the previous step was short somewhere
            if self.probe and self._all_met(t):
                reasons: dict[int, list[tuple[str, str]]] = {}
            else:
                reasons = self._stages(t)
            self.probe = not reasons
            sol = self._solve(dict.fromkeys(lay.s.tolist(), 1.0))
        except _Infeasible:
            self._set_step(t)
            raise InfeasibleBasinError(t, self._relaxations()) from None
        value = np.asarray(sol.col_value)
        value[np.abs(value) < 1e-9] = 0.0
        self.storage = value[lay.s].copy()
        return {"value": value, "reasons": reasons}

    def _all_met(self, t: int) -> bool:
        """One LP for the common case: every requirement, minimum flow and carry-over target met in full."""
        lay = self.lay
        self._col_bounds(lay.d, lay.req[:, t], lay.req[:, t])
        self._col_bounds(lay.x, lay.minflow[:, t], self.hi[lay.x])
        self._col_bounds(lay.u, self.hi[lay.u], self.hi[lay.u])
        try:
            self._solve({})
            return True
        except _Infeasible:
            self._col_bounds(lay.d, 0.0, lay.req[:, t])
            self._col_bounds(lay.x, 0.0, self.hi[lay.x])
            self._col_bounds(lay.u, 0.0, self.hi[lay.u])
            return False

    def _stages(self, t: int) -> dict[int, list[tuple[str, str]]]:
        lay = self.lay
        reasons: dict[int, list[tuple[str, str]]] = {}
        req = lay.req[:, t]
        vital = np.flatnonzero(lay.vital[:, t] > 0)
        if len(vital):
            reasons |= self._leximin(
                lay.d[vital],
                lay.share_d[vital],
                lay.vital[vital, t],
                np.zeros(len(vital)),
                0.0,
                1.0,
                ("vital", "minimum vital quantities"),
                "equal_coverage",
            )
            self._col_bounds(lay.d[vital], self.lo[lay.d[vital]], req[vital])
        env = np.flatnonzero(lay.minflow[:, t] > 0)
        if len(env):
            self._leximin(
                lay.x[env],
                lay.share_x[env],
                lay.minflow[env, t],
                np.zeros(len(env)),
                0.0,
                1.0,
                ("environmental_flow", ""),
                "equal_coverage",
            )
            for k in env:
                self.tag[int(lay.x[k])] = ("environmental_flow", lay.links[k].id)
        for p in lay.classes:
            self._carry_over(p)
            members = np.flatnonzero((lay.priority == p) & (req > 0))
            if len(members):
                for col, why in self._share(p, members, t).items():
                    reasons[col] = why
        return reasons

    def _carry_over(self, p: int) -> None:
        lay = self.lay
        ks = [k for k, r in enumerate(lay.carry) if r.carry_over_priority == p]
        if ks:
            sol = self._solve({int(lay.u[k]): 1.0 for k in ks})
            res_index = {r.id: k for k, r in enumerate(lay.ress)}
            for k in ks:
                col = int(lay.s[res_index[lay.carry[k].id]])
                keep = max(self.lo[col], sol.col_value[lay.u[k]])
                self._fix(np.array([col]), np.array([keep]), ("carry_over", lay.carry[k].id))

    def _share(self, p: int, members: np.ndarray, t: int) -> dict[int, list[tuple[str, str]]]:
        lay = self.lay
        rule = self.basin.rule(p)
        req = lay.req[members, t]
        cols, rows = lay.d[members], lay.share_d[members]
        tag = ("priority", f"class {p}")
        zero, one = np.zeros(len(members)), np.ones(len(members))
        if rule == "equal_coverage":
            return self._leximin(cols, rows, req, zero, 0.0, 1.0, tag, rule)
        if rule == "proportional":
            ent = np.maximum(lay.ent[members, t], 1e-12)
            return self._leximin(cols, rows, ent, zero, 0.0, float(np.max(req / ent)), tag, rule)
        if rule == "cea":
            return self._leximin(cols, rows, one, zero, 0.0, float(req.max()), tag, rule)
        if rule == "cel":
            return self._leximin(cols, rows, one, req, -float(req.max()), 0.0, tag, rule)
        if rule == "talmud":
            total = float(np.sum(np.asarray(self._solve({int(c): 1.0 for c in cols}).col_value)[cols]))
            target = np.asarray(talmud(min(total, float(req.sum())), req))
            has = target > 0
            self._col_bounds(cols[has], 0.0, target[has])
            self._leximin(cols[has], rows[has], target[has], zero[has], 0.0, 1.0, ("rule", "talmud"), rule)
            self._col_bounds(cols, self.lo[cols], req)
            reasons = self._leximin(cols, rows, req, zero, 0.0, 1.0, tag, rule)
            for i in np.flatnonzero(target < req * (1 - 1e-9)):
                reasons.setdefault(int(cols[i]), []).append(("rule", "talmud"))
            return reasons
        # seniority: date groups from the most senior; a group shares by equal coverage
        dates = np.array([lay.dems[i].seniority.isoformat() for i in members])
        reasons = {}
        for date in sorted(set(dates.tolist())):
            g = dates == date
            reasons |= self._leximin(cols[g], rows[g], req[g], zero[g], 0.0, 1.0, ("seniority", date), "equal_coverage")
        return reasons

    def _relaxations(self) -> list[dict]:
        """Minimal total relaxation of the physical constraints (HiGHS feasibility relaxation)."""
        lay = self.lay
        lp = self.h.getLp()
        relax = quiet_highs()
        relax.passModel(lp)
        n = lay.n_cols
        lower_pen = np.full(n, -1.0)
        upper_pen = np.full(n, -1.0)
        upper_pen[lay.x] = 1.0
        upper_pen[lay.g] = 1.0
        upper_pen[lay.s] = 1.0
        lower_pen[lay.s] = 1.0
        relax.feasibilityRelaxation(1.0, 1.0, 1.0, lower_pen, upper_pen, np.ones(lay.n_rows))
        sol = relax.getSolution()
        value, act = np.asarray(sol.col_value), np.asarray(sol.row_value)
        out: list[dict] = []

        def add(constraint: str, amount: float) -> None:
            if amount > 1e-6:
                out.append({"constraint": constraint, "amount_m3": float(amount) * lay.scale})

        up, lo = np.asarray(lp.col_upper_), np.asarray(lp.col_lower_)
        for k, lk in enumerate(lay.links):
            add(f"links.{lk.id}.capacity_m3 (raise)", value[lay.x[k]] - up[lay.x[k]])
        for k, g in enumerate(lay.gws):
            add(f"groundwater.{g.id}.sustainable_yield_m3 (raise)", value[lay.g[k]] - up[lay.g[k]])
        for k, r in enumerate(lay.ress):
            add(f"reservoirs.{r.id}.capacity_m3 (raise)", value[lay.s[k]] - up[lay.s[k]])
            add(f"reservoirs.{r.id}.dead_storage_m3 (lower)", lo[lay.s[k]] - value[lay.s[k]])
        rlo, rhi = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
        for node, row in sorted(lay.node_row.items()):
            add(f"mass balance at {node}: water with no way out (add an outflow)", rlo[row] - act[row])
            add(f"mass balance at {node}: water missing (add an inflow)", act[row] - rhi[row])
        return out


class _Infeasible(RuntimeError):
    pass


def components(basin: Basin) -> list[Basin]:
    """Split a basin into its hydraulically independent parts (weakly connected components of the link graph).

    Parts share no constraint, so allocating each alone gives the same plan (leximin decomposes) with far
    smaller LPs. Parts are ordered by their smallest node id.
    """
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups = ("catchments", "reservoirs", "groundwater", "junctions", "outlets", "demands")
    for g in groups:
        for item in getattr(basin, g):
            root(item.id)
    for link in basin.links:
        a, b = root(link.from_node), root(link.to)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, set[str]] = {}
    for node in parent:
        members.setdefault(root(node), set()).add(node)
    parts = []
    for key in sorted(members, key=lambda r: min(members[r])):
        ids = members[key]
        update = {g: [x for x in getattr(basin, g) if x.id in ids] for g in groups}
        update["links"] = [x for x in basin.links if x.from_node in ids]
        parts.append(basin.model_copy(update=update))
    return parts


def _allocate_part(basin: Basin) -> AllocationResult:
    solver = _StepSolver(basin)
    lay = solver.lay
    n = basin.n_steps
    values = np.zeros((n, lay.n_cols))
    reason_rows: list[dict] = []
    for t in range(n):
        out = solver.step(t)
        values[t] = out["value"]
        for col, why in out["reasons"].items():
            k = int(col - lay.d[0])
            if values[t, col] < lay.req[k, t] - 1e-6 * max(1.0, lay.req[k, t]):
                for reason, source in sorted(set(why), key=lambda r: (_REASON_ORDER.index(r[0]), r[1])):
                    reason_rows.append({"step": t, "user": lay.dems[k].id, "reason": reason, "source": source})
    index = pd.date_range(basin.start, periods=n, freq="D" if basin.time_step == "day" else "MS", name="date")

    def frame(data: np.ndarray, items: list) -> pd.DataFrame:
        return pd.DataFrame(data * lay.scale, index=index, columns=pd.Index([i.id for i in items]))

    return AllocationResult(
        basin=basin,
        requirement_m3=frame(lay.req.T, lay.dems),
        delivered_m3=frame(values[:, lay.d], lay.dems),
        link_flow_m3=frame(values[:, lay.x], lay.links),
        min_flow_m3=frame(lay.minflow.T, lay.links),
        storage_m3=frame(values[:, lay.s], lay.ress),
        groundwater_m3=frame(values[:, lay.g], lay.gws),
        outlet_m3=frame(values[:, lay.o], lay.outs),
        reasons=pd.DataFrame(reason_rows, columns=["step", "user", "reason", "source"]),
    )


def allocate(basin: Basin, workers: int = 1) -> AllocationResult:
    """Allocate water step by step over ``basin.n_steps`` steps; see the module docstring for the method.

    Independent parts of the basin (:func:`components`) are solved separately, on ``workers`` processes when
    more than one. Columns of every table are sorted by id, so the plan never depends on the file's order.
    Raises :class:`InfeasibleBasinError` naming the constraints whose relaxation makes a step feasible.
    """
    parts = components(basin) or [basin]
    if workers > 1 and len(parts) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_allocate_part, parts))
    else:
        results = [_allocate_part(p) for p in parts]

    def merged(name: str) -> pd.DataFrame:
        frame = pd.concat([getattr(r, name) for r in results], axis=1)
        return frame.reindex(sorted(frame.columns), axis=1)

    reasons = pd.concat([r.reasons for r in results if not r.reasons.empty] or [results[0].reasons])
    return AllocationResult(
        basin=basin,
        requirement_m3=merged("requirement_m3"),
        delivered_m3=merged("delivered_m3"),
        link_flow_m3=merged("link_flow_m3"),
        min_flow_m3=merged("min_flow_m3"),
        storage_m3=merged("storage_m3"),
        groundwater_m3=merged("groundwater_m3"),
        outlet_m3=merged("outlet_m3"),
        reasons=reasons.sort_values(["step", "user"], kind="stable").reset_index(drop=True),
    )
