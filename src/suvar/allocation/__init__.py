"""Water allocation under scarcity.

Owns the basin model (supply, conveyance, demands, operating rules), the per-step HiGHS LP with
lexicographic priority classes and selectable sharing rules, the claims rules (proportional, CEA, CEL,
Talmud), scenario runs and their explanation, the Pywr 1.x JSON import, and the audit of metered deliveries
against a published plan.
"""
