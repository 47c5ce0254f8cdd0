"""manufacturing.platform.cloudwatch_metric_alarms against the local cloud (issue 15): the tags of existing alarms
are read with one Resource Groups Tagging API GetResources per 100 alarms instead of one ListTagsForResource per
alarm; a tag removed by hand is confirmed with ListTagsForResource of that alarm alone and put back; check mode
sends no mutating request. Independent of the fleet converge (alarms of their own prefix)."""

from __future__ import annotations

import json

import pytest
from support.playbook import SHARED_HOST_PLAY_HEADER, run_playbook

PREFIX = "mfg-local-alarmtest-"
NAMES = [PREFIX + n for n in ("errors", "throttles", "latency")]
TAGS = {"Environment": "local", "Component": "alarmtest"}


def play(tmp_path, state="present", check=False):
    alarms = [{"name": n, "namespace": "AWS/Lambda", "metric_name": "Errors", "statistic": "Sum", "period": 60,
               "evaluation_periods": 1, "threshold": 1, "comparison_operator": "GreaterThanOrEqualToThreshold",
               "dimensions": {"FunctionName": n}} for n in NAMES]
    path = tmp_path / "alarms.yml"
    path.write_text("- name: alarms\n" + SHARED_HOST_PLAY_HEADER + "  tasks:\n"
                    "    - name: Alarms\n"
                    "      manufacturing.platform.cloudwatch_metric_alarms:\n"
                    "        state: %s\n"
                    "        purge_prefix: %s\n"
                    "        tags: %s\n"
                    "        alarms: %s\n" % (state, PREFIX, json.dumps(TAGS), json.dumps(alarms)))
    run = run_playbook(path, "-e", "env=local", "--diff", *(["--check"] if check else []))
    assert run.rc == 0, run.explain()
    [(_t, _h, result)] = list(run.task_results("Alarms"))
    return result


def actions(request_log, mark):
    return sorted("%s:%s" % (e.get("service"), e.get("action")) for e in request_log.since(mark))


@pytest.fixture
def clean(aws):
    cloudwatch = aws("cloudwatch")

    def remove():
        names = [a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]]
        if names:
            cloudwatch.delete_alarms(AlarmNames=names)

    remove()
    yield cloudwatch
    remove()


def test_alarm_tags_read_in_one_request_and_drift_put_back(clean, tmp_path, request_log):
    cloudwatch = clean
    created = play(tmp_path)
    assert created["changed"] and sorted(created["created"]) == sorted(NAMES)

    mark = request_log.mark()
    again = play(tmp_path)
    assert not again["changed"], again
    calls = actions(request_log, mark)
    assert request_log.mutating_since(mark) == []
    assert [c for c in calls if c.endswith(":ListTagsForResource")] == [], calls
    assert len([c for c in calls if c.endswith(":GetResources")]) == 1, calls

    # drift by hand: one alarm loses a tag, another gets an extra one
    arns = again["alarm_arns"]
    cloudwatch.untag_resource(ResourceARN=arns[NAMES[0]], TagKeys=["Component"])
    cloudwatch.tag_resource(ResourceARN=arns[NAMES[1]], Tags=[{"Key": "Extra", "Value": "x"}])
    mark = request_log.mark()
    preview = play(tmp_path, check=True)
    assert preview["changed"] and sorted(preview["updated"]) == sorted(NAMES[:2])
    assert request_log.mutating_since(mark) == []
    mark = request_log.mark()
    repaired = play(tmp_path)
    assert sorted(repaired["updated"]) == sorted(NAMES[:2])
    calls = actions(request_log, mark)
    # only the two drifted alarms are read one by one (the tagging API may lag on AWS), then fixed
    assert len([c for c in calls if c.endswith(":ListTagsForResource")]) == 2, calls
    assert sorted(e["action"] for e in request_log.mutating_since(mark)) == ["TagResource", "UntagResource"]
    for name in NAMES:
        tags = {t["Key"]: t["Value"] for t in cloudwatch.list_tags_for_resource(ResourceARN=arns[name])["Tags"]}
        assert tags == TAGS, (name, tags)
    assert not play(tmp_path)["changed"]

    gone = play(tmp_path, state="absent")
    assert sorted(gone["deleted"]) == sorted(NAMES)
    assert cloudwatch.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"] == []
