"""Alert rules, hysteresis evaluation and the per-environment rule cache. Pure: no I/O.

Model (schema/postgres.sql): a rule watches one metric of one machine (``machine_id``) or of every machine
(``machine_id`` None). Per (rule, machine) there is a state, inactive until a reading satisfies
``value <comparator> threshold``: that reading opens an episode and creates ONE alert. While active, further
readings over the threshold create nothing; the episode closes (hysteresis) when a reading gets back to the
clear threshold (``<= clear_threshold`` for > and >=, ``>= clear_threshold`` for < and <=; without a clear
threshold, as soon as the trigger condition no longer holds). The next crossing opens a new episode.

Readings are evaluated in time order; a reading older than the last transition of its (rule, machine) is
ignored for alerting (late or replayed data cannot reopen or close an episode). The dedupe key of an alert is
the identity of the reading that opened it, per rule: ``<rule_id>|<machine_id>|<metric>|<epoch µs>``.
"""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass, field
from datetime import datetime

from .readings import Reading

COMPARATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: int
    name: str
    machine_id: str | None
    metric: str
    comparator: str
    threshold: float
    clear_threshold: float | None
    severity: str

    def triggers(self, value: float) -> bool:
        return COMPARATORS[self.comparator](value, self.threshold)

    def clears(self, value: float) -> bool:
        if self.clear_threshold is None:
            return not self.triggers(value)
        if self.comparator in (">", ">="):
            return value <= self.clear_threshold
        return value >= self.clear_threshold


class RuleSet:
    """Rules indexed by metric, then by machine (None = every machine)."""

    def __init__(self, rules=()):
        self.rules = tuple(rules)
        self._index: dict[str, dict[str | None, list[Rule]]] = {}
        for rule in self.rules:
            self._index.setdefault(rule.metric, {}).setdefault(rule.machine_id, []).append(rule)

    def __len__(self):
        return len(self.rules)

    def matching(self, reading: Reading) -> list[Rule]:
        by_machine = self._index.get(reading.metric)
        if not by_machine:
            return []
        specific = by_machine.get(reading.machine_id, [])
        general = by_machine.get(None, [])
        return specific + general if specific and general else specific or general


@dataclass(slots=True)
class State:
    active: bool = False
    alert_key: str | None = None
    changed_ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    dedupe_key: str
    rule: Rule
    reading: Reading
    cleared_ts: datetime | None = None  # set when the same batch also closed the episode


@dataclass
class Evaluation:
    triggers: list[Trigger] = field(default_factory=list)
    # (rule_id, machine_id) -> the new state, for every pair that changed
    transitions: dict[tuple[int, str], State] = field(default_factory=dict)
    # alerts opened before this batch and closed by it: (dedupe_key, reading time of the clearing reading)
    cleared: list[tuple[str, datetime]] = field(default_factory=list)


def dedupe_key(rule: Rule, reading: Reading) -> str:
    return "%d|%s|%s|%d" % (rule.rule_id, reading.machine_id, reading.metric, reading.ts_us)


def pairs(ruleset: RuleSet, readings) -> set[tuple[int, str]]:
    """The (rule_id, machine_id) pairs the readings touch: the states evaluation needs."""
    return {(rule.rule_id, r.machine_id) for r in readings for rule in ruleset.matching(r)}


def evaluate(ruleset: RuleSet, readings, states: dict[tuple[int, str], State]) -> Evaluation:
    """Run the readings (any order) through the rules, starting from ``states`` (not modified)."""
    result = Evaluation()
    current = {}
    opened_here = {}  # dedupe_key -> index in result.triggers
    for reading in sorted(readings, key=lambda r: r.ts):
        for rule in ruleset.matching(reading):
            key = (rule.rule_id, reading.machine_id)
            state = current.get(key)
            if state is None:
                old = states.get(key)
                state = current[key] = State(old.active, old.alert_key, old.changed_ts) if old else State()
            if state.changed_ts is not None and reading.ts < state.changed_ts:
                continue
            if not state.active and rule.triggers(reading.value):
                trigger = Trigger(dedupe_key(rule, reading), rule, reading)
                opened_here[trigger.dedupe_key] = len(result.triggers)
                result.triggers.append(trigger)
                state.active, state.alert_key, state.changed_ts = True, trigger.dedupe_key, reading.ts
            elif state.active and rule.clears(reading.value):
                if state.alert_key in opened_here:
                    index = opened_here.pop(state.alert_key)
                    t = result.triggers[index]
                    result.triggers[index] = Trigger(t.dedupe_key, t.rule, t.reading, reading.ts)
                elif state.alert_key is not None:
                    result.cleared.append((state.alert_key, reading.ts))
                state.active, state.alert_key, state.changed_ts = False, None, reading.ts
            else:
                continue
            result.transitions[key] = state
    return result


def max_severity(severities) -> str:
    return max(severities, key=lambda s: SEVERITY_ORDER.get(s, -1), default="info")


class TtlCache:
    """One value, reloaded by ``loader()`` when older than ``ttl`` seconds of ``clock`` (monotonic by default)."""

    def __init__(self, loader, ttl: float, clock=time.monotonic):
        self.loader = loader
        self.ttl = ttl
        self.clock = clock
        self._value = None
        self._loaded_at = None

    def get(self):
        now = self.clock()
        if self._loaded_at is None or now - self._loaded_at >= self.ttl:
            self._value = self.loader()
            self._loaded_at = now
        return self._value

    def invalidate(self):
        self._loaded_at = None
        self._value = None


class KnownMachines:
    """Positive cache of machine ids that exist, with a TTL; misses are looked up (``lookup(ids) -> found``)."""

    def __init__(self, lookup, ttl: float, clock=time.monotonic):
        self.lookup = lookup
        self.ttl = ttl
        self.clock = clock
        self._known: set[str] = set()
        self._since = None

    def filter_unknown(self, ids) -> set[str]:
        """The subset of ``ids`` that is not a machine of the tenant."""
        now = self.clock()
        if self._since is None or now - self._since >= self.ttl:
            self._known, self._since = set(), now
        missing = set(ids) - self._known
        if missing:
            found = set(self.lookup(sorted(missing)))
            self._known |= found
            missing -= found
        return missing

    def invalidate(self):
        self._known, self._since = set(), None
