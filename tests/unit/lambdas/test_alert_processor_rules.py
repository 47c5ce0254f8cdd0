"""Unit tests of the alert processor's rule model, hysteresis evaluation and caches (pure, no cloud)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

_LAMBDA = Path(__file__).resolve().parents[3] / "lambdas" / "alert_processor"
if str(_LAMBDA) not in sys.path:
    sys.path.insert(0, str(_LAMBDA))

from alert_processor.readings import Reading  # noqa: E402
from alert_processor.rules import (  # noqa: E402
    KnownMachines,
    Rule,
    RuleSet,
    State,
    TtlCache,
    dedupe_key,
    evaluate,
    max_severity,
    pairs,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOT = Rule(1, "hot", None, "temperature", ">", 80.0, 70.0, "critical")


def rd(value, seconds=0, machine="m1", metric="temperature"):
    return Reading(machine, metric, float(value), T0 + timedelta(seconds=seconds), "C", "test")


@pytest.mark.parametrize(("cmp", "threshold", "clear", "trig", "no_trig", "clr", "no_clr"), [
    (">", 80, 70, 80.1, 80, 70, 70.1),
    (">=", 80, 70, 80, 79.9, 70, 70.1),
    ("<", 10, 15, 9.9, 10, 15, 14.9),
    ("<=", 10, 15, 10, 10.1, 15, 14.9),
    (">", 80, None, 81, 80, 80, 80.5),  # no clear threshold: clears when the condition no longer holds
    ("<=", 10, None, 10, 10.5, 10.5, 10),
])
def test_comparators_and_clear_thresholds(cmp, threshold, clear, trig, no_trig, clr, no_clr):
    rule = Rule(1, "r", None, "x", cmp, threshold, clear, "info")
    assert rule.triggers(trig) and not rule.triggers(no_trig)
    assert rule.clears(clr) and not rule.clears(no_clr)


def test_ruleset_matching_specific_and_general():
    specific = Rule(2, "m1 hot", "m1", "temperature", ">", 60.0, None, "warning")
    other = Rule(3, "vibration", None, "vibration", ">", 5.0, None, "warning")
    rules = RuleSet([HOT, specific, other])
    assert set(rules.matching(rd(1))) == {HOT, specific}
    assert rules.matching(rd(1, machine="m2")) == [HOT]
    assert rules.matching(rd(1, metric="pressure")) == []
    assert pairs(rules, [rd(1), rd(1, machine="m2")]) == {(1, "m1"), (2, "m1"), (1, "m2")}


def test_trigger_once_while_active_then_clear_and_retrigger():
    rules = RuleSet([HOT])
    ev = evaluate(rules, [rd(85, 0), rd(90, 1), rd(75, 2)], {})  # 75: inside the band, stays active
    assert [t.reading.value for t in ev.triggers] == [85]
    assert ev.transitions == {(1, "m1"): State(True, ev.triggers[0].dedupe_key, T0)}
    assert ev.triggers[0].cleared_ts is None

    states = dict(ev.transitions)
    ev2 = evaluate(rules, [rd(95, 3)], states)
    assert ev2.triggers == [] and ev2.transitions == {} and ev2.cleared == []

    ev3 = evaluate(rules, [rd(70, 4)], states)
    assert ev3.triggers == []
    assert ev3.cleared == [(ev.triggers[0].dedupe_key, T0 + timedelta(seconds=4))]
    assert ev3.transitions[(1, "m1")].active is False

    ev4 = evaluate(rules, [rd(81, 5)], dict(ev3.transitions))
    assert len(ev4.triggers) == 1 and ev4.triggers[0].reading.value == 81
    assert states[(1, "m1")].active is True  # inputs are not modified


def test_trigger_and_clear_in_one_batch_in_time_order():
    ev = evaluate(RuleSet([HOT]), [rd(60, 2), rd(85, 0), rd(88, 3), rd(90, 1)], {})  # delivered out of order
    assert [(t.reading.value, t.cleared_ts) for t in ev.triggers] == [(85, T0 + timedelta(seconds=2)), (88, None)]
    assert ev.cleared == []
    assert ev.transitions[(1, "m1")] == State(True, ev.triggers[1].dedupe_key, T0 + timedelta(seconds=3))


def test_readings_older_than_the_last_transition_are_ignored():
    states = {(1, "m1"): State(False, None, T0 + timedelta(seconds=10))}
    ev = evaluate(RuleSet([HOT]), [rd(99, 5)], states)  # late reading: stored elsewhere, no alert
    assert ev.triggers == [] and ev.transitions == {}
    ev = evaluate(RuleSet([HOT]), [rd(99, 10)], states)  # same instant is evaluated
    assert len(ev.triggers) == 1


def test_replay_of_the_opening_reading_creates_nothing():
    rules = RuleSet([HOT])
    ev = evaluate(rules, [rd(85, 0)], {})
    again = evaluate(rules, [rd(85, 0)], dict(ev.transitions))
    assert again.triggers == [] and again.transitions == {}


def test_rules_are_independent_per_machine_and_rule():
    warm = Rule(2, "warm", None, "temperature", ">", 50.0, None, "info")
    ev = evaluate(RuleSet([HOT, warm]), [rd(85, 0, "m1"), rd(60, 0, "m2")], {})
    assert sorted((t.rule.rule_id, t.reading.machine_id) for t in ev.triggers) == [(1, "m1"), (2, "m1"), (2, "m2")]


def test_dedupe_key_is_the_reading_identity_per_rule():
    a, b = rd(85, 0), Reading("m1", "temperature", 99.0, T0, None, "kafka:x:0:99")  # same reading, new offset
    assert dedupe_key(HOT, a) == dedupe_key(HOT, b) == "1|m1|temperature|%d" % (a.ts_us)
    assert dedupe_key(HOT, a) != dedupe_key(HOT, rd(85, 1))


def test_max_severity():
    assert max_severity(["info", "critical", "warning"]) == "critical"
    assert max_severity(["warning", "info"]) == "warning"
    assert max_severity([]) == "info"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_ttl_cache_reloads_only_after_ttl():
    clock, loads = Clock(), []
    cache = TtlCache(lambda: loads.append(1) or len(loads), ttl=60, clock=clock)
    assert cache.get() == 1
    clock.now += 59.9
    assert cache.get() == 1
    clock.now += 0.1
    assert cache.get() == 2
    cache.invalidate()
    assert cache.get() == 3


def test_known_machines_caches_hits_and_looks_up_misses():
    clock, lookups = Clock(), []
    db = {"m1", "m2"}

    def lookup(ids):
        lookups.append(ids)
        return [i for i in ids if i in db]

    known = KnownMachines(lookup, ttl=60, clock=clock)
    assert known.filter_unknown({"m1", "m9"}) == {"m9"}
    assert known.filter_unknown({"m1"}) == set() and lookups == [["m1", "m9"]]  # hit: no lookup
    assert known.filter_unknown({"m9"}) == {"m9"} and lookups[-1] == ["m9"]  # misses are never cached
    db.discard("m1")
    clock.now += 60
    assert known.filter_unknown({"m1"}) == {"m1"}  # a removed machine disappears after the TTL
