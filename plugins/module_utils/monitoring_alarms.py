# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudWatch metric alarms as data: the module's alarm specs to PutMetricAlarm arguments, and the comparison
of those arguments with what DescribeAlarms returns (so only alarms that differ are written).

Pure functions (no boto3): unit-tested in tests/unit/plugins/module_utils/test_monitoring_alarms.py.
"""

from __future__ import annotations

import copy

# Spec keys (snake_case, as the module takes them) -> PutMetricAlarm keys.
SCALAR_KEYS = {
    "description": "AlarmDescription",
    "actions_enabled": "ActionsEnabled",
    "namespace": "Namespace",
    "metric_name": "MetricName",
    "statistic": "Statistic",
    "extended_statistic": "ExtendedStatistic",
    "period": "Period",
    "unit": "Unit",
    "evaluation_periods": "EvaluationPeriods",
    "datapoints_to_alarm": "DatapointsToAlarm",
    "threshold": "Threshold",
    "comparison_operator": "ComparisonOperator",
    "treat_missing_data": "TreatMissingData",
    "evaluate_low_sample_count_percentile": "EvaluateLowSampleCountPercentile",
    "threshold_metric_id": "ThresholdMetricId",
}
LIST_KEYS = {
    "alarm_actions": "AlarmActions",
    "ok_actions": "OKActions",
    "insufficient_data_actions": "InsufficientDataActions",
}
ALLOWED = set(SCALAR_KEYS) | set(LIST_KEYS) | {"name", "dimensions", "metrics"}
COMPARISON_OPERATORS = {
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
}
STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
TREAT_MISSING = {"breaching", "notBreaching", "ignore", "missing"}
# What CloudWatch assumes when a key is not sent (DescribeAlarms returns these).
DEFAULTS = {
    "ActionsEnabled": True,
    "AlarmActions": [],
    "OKActions": [],
    "InsufficientDataActions": [],
    "AlarmDescription": "",
    "TreatMissingData": "missing",
}
COMPARED = [
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "Namespace",
    "MetricName",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
]


class AlarmSpecError(ValueError):
    """An alarm spec the module cannot send (the message names the alarm and the key)."""


def _dimensions(value, where):
    """{'FunctionName': 'x'} or [{'name'|'Name': .., 'value'|'Value': ..}] -> sorted API list."""
    if value in (None, {}, []):
        return []
    if isinstance(value, dict):
        items = [(str(k), str(v)) for k, v in value.items()]
    elif isinstance(value, list):
        items = []
        for dim in value:
            if not isinstance(dim, dict):
                raise AlarmSpecError("%s: dimensions must be a dict or a list of {name, value}" % where)
            name = dim.get("name", dim.get("Name"))
            val = dim.get("value", dim.get("Value"))
            if name is None or val is None:
                raise AlarmSpecError("%s: every dimension needs a name and a value" % where)
            items.append((str(name), str(val)))
    else:
        raise AlarmSpecError("%s: dimensions must be a dict or a list of {name, value}" % where)
    return [{"Name": n, "Value": v} for n, v in sorted(items)]


def _metric_query(query, where):
    """One metric-math query (snake_case or API case) -> API MetricDataQuery."""
    if not isinstance(query, dict):
        raise AlarmSpecError("%s: every entry of metrics must be a dict" % where)

    def get(*keys):
        return next((query[k] for k in keys if k in query), None)

    qid = get("id", "Id")
    if not qid:
        raise AlarmSpecError("%s: every metric query needs an id" % where)
    out = {"Id": str(qid)}
    expression = get("expression", "Expression")
    stat = get("metric_stat", "MetricStat")
    if bool(expression) == bool(stat):
        raise AlarmSpecError("%s: metric query %s needs exactly one of expression and metric_stat" % (where, qid))
    if expression:
        out["Expression"] = str(expression)
    else:
        metric = stat.get("metric", stat.get("Metric")) or {}
        api_metric = {
            "Namespace": str(metric.get("namespace", metric.get("Namespace", ""))),
            "MetricName": str(metric.get("metric_name", metric.get("MetricName", ""))),
            "Dimensions": _dimensions(metric.get("dimensions", metric.get("Dimensions")), where),
        }
        if not api_metric["Namespace"] or not api_metric["MetricName"]:
            raise AlarmSpecError("%s: metric query %s needs a namespace and a metric_name" % (where, qid))
        api_stat = {
            "Metric": api_metric,
            "Period": int(stat.get("period", stat.get("Period", 60))),
            "Stat": str(stat.get("stat", stat.get("Stat", "Average"))),
        }
        unit = stat.get("unit", stat.get("Unit"))
        if unit:
            api_stat["Unit"] = str(unit)
        out["MetricStat"] = api_stat
    label = get("label", "Label")
    if label:
        out["Label"] = str(label)
    return_data = get("return_data", "ReturnData")
    out["ReturnData"] = bool(return_data) if return_data is not None else False
    period = get("period", "Period")
    if period is not None and expression:
        out["Period"] = int(period)
    return out


def to_api(spec, common_actions=None):
    """A module alarm spec -> the canonical PutMetricAlarm arguments (without Tags)."""
    if not isinstance(spec, dict) or not spec.get("name"):
        raise AlarmSpecError("every alarm needs a name")
    name = str(spec["name"])
    unknown = sorted(set(spec) - ALLOWED)
    if unknown:
        raise AlarmSpecError("alarm %s: unknown keys %s" % (name, ", ".join(unknown)))
    api = {"AlarmName": name}
    for key, api_key in SCALAR_KEYS.items():
        if spec.get(key) is not None and spec.get(key) != "":
            api[api_key] = spec[key]
    for key, api_key in LIST_KEYS.items():
        values = list(spec.get(key) or [])
        if key == "alarm_actions" and common_actions:
            values = list(common_actions) + values
        api[api_key] = sorted(set(str(v) for v in values))
    if spec.get("metrics"):
        api["Metrics"] = [_metric_query(q, "alarm %s" % name) for q in spec["metrics"]]
        returned = [q for q in api["Metrics"] if q["ReturnData"]]
        if len(returned) != 1 and "ThresholdMetricId" not in api:
            raise AlarmSpecError("alarm %s: exactly one metric query must have return_data: true" % name)
        for key in ("Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Period", "Unit"):
            if key in api:
                raise AlarmSpecError("alarm %s: %s cannot be combined with metrics (metric math)" % (name, key))
    else:
        if not api.get("Namespace") or not api.get("MetricName"):
            raise AlarmSpecError("alarm %s: needs namespace and metric_name, or metrics" % name)
        if ("Statistic" in api) == ("ExtendedStatistic" in api):
            raise AlarmSpecError("alarm %s: needs exactly one of statistic and extended_statistic" % name)
        if "Statistic" in api and api["Statistic"] not in STATISTICS:
            raise AlarmSpecError(
                "alarm %s: statistic %r is not one of %s" % (name, api["Statistic"], ", ".join(sorted(STATISTICS)))
            )
        api["Dimensions"] = _dimensions(spec.get("dimensions"), "alarm %s" % name)
        api["Period"] = int(api.get("Period", 60))
    if "ComparisonOperator" not in api or api["ComparisonOperator"] not in COMPARISON_OPERATORS:
        raise AlarmSpecError(
            "alarm %s: comparison_operator must be one of %s" % (name, ", ".join(sorted(COMPARISON_OPERATORS)))
        )
    if "Threshold" not in api and "ThresholdMetricId" not in api:
        raise AlarmSpecError("alarm %s: needs a threshold" % name)
    if "Threshold" in api:
        try:
            api["Threshold"] = float(api["Threshold"])
        except (TypeError, ValueError):
            raise AlarmSpecError("alarm %s: threshold %r is not a number" % (name, spec.get("threshold"))) from None
    api["EvaluationPeriods"] = int(api.get("EvaluationPeriods", 1))
    if "DatapointsToAlarm" in api:
        api["DatapointsToAlarm"] = int(api["DatapointsToAlarm"])
        if not 1 <= api["DatapointsToAlarm"] <= api["EvaluationPeriods"]:
            raise AlarmSpecError("alarm %s: datapoints_to_alarm must be between 1 and evaluation_periods" % name)
    if api.get("TreatMissingData", "missing") not in TREAT_MISSING:
        raise AlarmSpecError(
            "alarm %s: treat_missing_data must be one of %s" % (name, ", ".join(sorted(TREAT_MISSING)))
        )
    api["ActionsEnabled"] = bool(api.get("ActionsEnabled", True))
    for key, default in DEFAULTS.items():
        api.setdefault(key, copy.deepcopy(default))
    return api


def from_described(alarm):
    """DescribeAlarms' MetricAlarm -> the same canonical shape as :func:`to_api`."""
    api = {}
    for key in COMPARED:
        if key in alarm and alarm[key] not in (None, ""):
            api[key] = copy.deepcopy(alarm[key])
    for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        api[key] = sorted(api.get(key) or [])
    if api.get("Metrics"):
        api["Metrics"] = [_metric_query(q, "alarm %s" % alarm.get("AlarmName")) for q in api["Metrics"]]
        for key in ("Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Period", "Unit", "Dimensions"):
            api.pop(key, None)
    else:
        api.pop("Metrics", None)
        api["Dimensions"] = _dimensions(api.get("Dimensions"), "alarm %s" % alarm.get("AlarmName"))
    if "Threshold" in api:
        api["Threshold"] = float(api["Threshold"])
    for key, default in DEFAULTS.items():
        api.setdefault(key, copy.deepcopy(default))
    return api


def differences(wanted, current):
    """Sorted keys whose values differ between two canonical alarms (empty: nothing to write)."""
    keys = set(wanted) | set(current)
    return sorted(k for k in keys if wanted.get(k) != current.get(k))


def plan(wanted_specs, described, purge_prefixes=(), common_actions=None):
    """What to do: (to_put [(api, reason_keys)], unchanged [names], to_delete [names]).

    ``described``: DescribeAlarms MetricAlarms of the alarms that may be affected (the wanted names and every
    alarm under ``purge_prefixes``). Alarms under a purge prefix that are not wanted are deleted.
    """
    wanted = {}
    for spec in wanted_specs:
        api = to_api(spec, common_actions)
        if api["AlarmName"] in wanted:
            raise AlarmSpecError("alarm %s is listed twice" % api["AlarmName"])
        wanted[api["AlarmName"]] = api
    current = {a["AlarmName"]: a for a in described}
    to_put, unchanged = [], []
    for name, api in wanted.items():
        if name not in current:
            to_put.append((api, ["(new)"]))
            continue
        diff = differences(api, from_described(current[name]))
        if diff:
            to_put.append((api, diff))
        else:
            unchanged.append(name)
    to_delete = sorted(n for n in current if n not in wanted and any(n.startswith(p) for p in purge_prefixes if p))
    return to_put, sorted(unchanged), to_delete


def tag_changes(wanted, current, purge=True):
    """(tags to set as API list, keys to remove) to turn ``current`` into ``wanted`` (dicts)."""
    add = [{"Key": str(k), "Value": str(v)} for k, v in sorted(wanted.items()) if current.get(k) != str(v)]
    remove = sorted(k for k in current if k not in wanted and not k.startswith("aws:")) if purge else []
    return add, remove
