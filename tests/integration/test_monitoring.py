"""Monitoring role (issue 8): SNS topics, alarms, dashboards, budget, read back with boto3 after the session's
converge of the reference fleet (`converged`: site.yml -e env=local, twice). Check mode runs the role's molecule
converge (storage + monitoring) and must send no mutating request.

Cost Anomaly Detection is not in the emulator: env=local turns it off (monitoring_cost_anomaly_enabled) and the
module is covered by tests/unit/plugins/modules/test_cost_anomaly_monitor.py (test_emulator_gap_*).
"""

from __future__ import annotations

import json

import pytest
import yaml
from support.playbook import ROOT, SHARED_HOST_PLAY_HEADER, load_fleet, run_playbook

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "mfg-local"
OPS = "arn:aws:sns:%s:%s:%s-ops" % (REGION, ACCOUNT, PREFIX)
MONITORING_PLAYBOOK = ROOT / "roles" / "monitoring" / "molecule" / "default" / "converge.yml"
MONITORING_SERVICES = {"sns", "cloudwatch", "monitoring", "budgets", "ce"}
TENANT_ALARMS = (
    "lambda-p99-duration",
    "lambda-error-rate",
    "lambda-throttles",
    "api-5xx-rate",
    "api-p99-latency",
    "processor-bad-records",
    "processor-p99-latency",
)


def tenants():
    return load_fleet()["all"]["children"]["tenants"]["hosts"]


def settings():
    values = yaml.safe_load((ROOT / "group_vars" / "all" / "monitoring.yml").read_text())
    values.update(
        {
            k: v
            for k, v in yaml.safe_load((ROOT / "group_vars" / "env_local.yml").read_text()).items()
            if k.startswith("monitoring_")
        }
    )
    return values


def alert_topic(tenant_id):
    return "arn:aws:sns:%s:%s:%s-%s-alerts" % (REGION, ACCOUNT, PREFIX, tenant_id)


def monitoring_changes(run):
    return [(t, h) for t, h in run.changed_tasks() if t.startswith("manufacturing.platform.monitoring")]


@pytest.fixture(scope="module")
def alarms(converged, aws):
    found = {}
    for page in aws("cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=PREFIX + "/"):
        for alarm in page["MetricAlarms"]:
            found[alarm["AlarmName"]] = alarm
    return found


@pytest.fixture(scope="module")
def env_key_arn(converged, aws):
    return aws("kms").describe_key(KeyId="alias/" + PREFIX)["KeyMetadata"]["Arn"]


def test_second_converge_changes_nothing_in_monitoring(converged):
    assert monitoring_changes(converged[1]) == []


def test_ops_topic_is_encrypted_subscribed_and_only_platform_principals_publish(converged, aws, env_key_arn):
    sns = aws("sns")
    attrs = sns.get_topic_attributes(TopicArn=OPS)["Attributes"]
    assert attrs["KmsMasterKeyId"] == env_key_arn
    policy = json.loads(attrs["Policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    services = statements["ThisAccountsServicesPublish"]
    assert set(services["Principal"]["Service"]) == {
        "cloudwatch.amazonaws.com",
        "budgets.amazonaws.com",
        "costalerts.amazonaws.com",
        "events.rds.amazonaws.com",
    }
    assert services["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    deny = statements["NobodyElsePublishes"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "sns:Publish"
    assert deny["Condition"]["Null"] == {"aws:PrincipalServiceName": "true"}
    assert "PlatformRolesPublish" not in statements
    subs = sns.list_subscriptions_by_topic(TopicArn=OPS)["Subscriptions"]
    wanted = {(c["protocol"], c["endpoint"]) for c in settings()["monitoring_ops_contacts"]}
    assert {(s["Protocol"], s["Endpoint"]) for s in subs} == wanted


@pytest.mark.parametrize("host", sorted(tenants()))
def test_tenant_topic_only_its_alert_processor_publishes_and_its_contacts_are_subscribed(converged, aws, host):
    tvars = tenants()[host]
    tenant_id = tvars["tenant_id"]
    sns = aws("sns")
    attrs = sns.get_topic_attributes(TopicArn=alert_topic(tenant_id))["Attributes"]
    if tvars["tenancy_tier"] == "dedicated":
        key = aws("kms").describe_key(KeyId="alias/%s-%s" % (PREFIX, tenant_id))["KeyMetadata"]["Arn"]
    else:
        key = aws("kms").describe_key(KeyId="alias/" + PREFIX)["KeyMetadata"]["Arn"]
    assert attrs["KmsMasterKeyId"] == key
    statements = {s["Sid"]: s for s in json.loads(attrs["Policy"])["Statement"]}
    role = "arn:aws:iam::%s:role/%s-%s-alert-processor" % (ACCOUNT, PREFIX, tenant_id)
    publishers = statements["PlatformRolesPublish"]["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert (publishers if isinstance(publishers, list) else [publishers]) == [role]
    assert role in statements["NobodyElsePublishes"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    services = statements["ThisAccountsServicesPublish"]["Principal"]["Service"]
    assert (services if isinstance(services, list) else [services]) == ["cloudwatch.amazonaws.com"]
    subs = sns.list_subscriptions_by_topic(TopicArn=alert_topic(tenant_id))["Subscriptions"]
    assert {(s["Protocol"], s["Endpoint"]) for s in subs} == {
        (c["protocol"], c["endpoint"]) for c in tvars.get("tenant_alert_contacts", [])
    }
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=alert_topic(tenant_id))["Tags"]}
    assert tags["Tenant"] == tenant_id and tags["Environment"] == "local"


@pytest.mark.parametrize("host", sorted(tenants()))
def test_tenant_alarms_metrics_thresholds_and_actions(alarms, host):
    tvars = tenants()[host]
    tenant_id = tvars["tenant_id"]
    s = settings()
    fn = [{"Name": "FunctionName", "Value": "%s-%s-alert-processor" % (PREFIX, tenant_id)}]
    mine = {
        n[len("%s/%s/" % (PREFIX, tenant_id)) :]: a
        for n, a in alarms.items()
        if n.startswith("%s/%s/" % (PREFIX, tenant_id))
    }
    for name in TENANT_ALARMS:
        assert name in mine, name
    p99 = mine["lambda-p99-duration"]
    assert (p99["Namespace"], p99["MetricName"], p99["ExtendedStatistic"], p99["Dimensions"]) == (
        "AWS/Lambda",
        "Duration",
        "p99",
        fn,
    )
    assert p99["Threshold"] == s["monitoring_lambda_p99_duration_ms"] == 500
    assert p99["ComparisonOperator"] == "GreaterThanThreshold" and p99["AlarmActions"] == [OPS]
    rate = mine["lambda-error-rate"]
    returned = [q for q in rate["Metrics"] if q["ReturnData"]]
    assert len(returned) == 1 and "errors / invocations" in returned[0]["Expression"]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in rate["Metrics"] if "MetricStat" in q} == {
        "Errors",
        "Invocations",
    }
    assert rate["Threshold"] == 5
    assert mine["lambda-throttles"]["MetricName"] == "Throttles"
    api = mine["api-5xx-rate"]
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in api["Metrics"] if "MetricStat" in q} == {
        "5XXError",
        "Count",
    }
    assert {
        d["Name"]: d["Value"]
        for q in api["Metrics"]
        if "MetricStat" in q
        for d in q["MetricStat"]["Metric"]["Dimensions"]
    } == {"ApiName": "%s-%s-api" % (PREFIX, tenant_id), "Stage": "v1"}
    assert api["Threshold"] == 5 and sorted(api["AlarmActions"]) == sorted([OPS, alert_topic(tenant_id)])
    assert mine["api-p99-latency"]["ExtendedStatistic"] == "p99"
    bad = mine["processor-bad-records"]
    assert (bad["Namespace"], bad["MetricName"], bad["Dimensions"]) == (
        "ManufacturingPlatform/AlertProcessor",
        "BadRecords",
        [{"Name": "Tenant", "Value": tenant_id}],
    )
    assert sorted(bad["AlarmActions"]) == sorted([OPS, alert_topic(tenant_id)])
    latency = mine["processor-p99-latency"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Threshold"]) == (
        "ProcessingLatency",
        "p99",
        500,
    )
    owns = tvars["tenancy_tier"] == "dedicated"
    assert ("rds-connections" in mine) == owns and ("msk-disk-used-broker-1" in mine) == owns


@pytest.mark.parametrize(
    "owner", ["shared"] + sorted(h for h, t in tenants().items() if t["tenancy_tier"] == "dedicated")
)
def test_data_store_alarms_are_near_the_instance_limits(alarms, owner):
    s = settings()
    mine = {n.split("/", 2)[2]: a for n, a in alarms.items() if n.startswith("%s/%s/" % (PREFIX, owner))}
    instance = "%s-%s-postgres" % (PREFIX, owner)
    conns = mine["rds-connections"]
    # env=local: db.t4g.micro (1 GiB): max_connections = 1 GiB / 9531392 = 112, alarm at 80% -> 89
    assert conns["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": instance}]
    assert conns["Threshold"] == int(int(1 * 1073741824 / 9531392) * s["monitoring_rds_connections_ratio"])
    assert mine["rds-cpu"]["Threshold"] == s["monitoring_rds_cpu_percent"]
    storage = mine["rds-free-storage"]
    assert storage["ComparisonOperator"] == "LessThanThreshold" and storage["Threshold"] == int(20 * 1073741824 * 0.1)
    brokers = sorted(n for n in mine if n.startswith("msk-disk-used-broker-"))
    assert len(brokers) == 2  # network_az_count 2 x 1 broker per AZ
    disk = mine[brokers[0]]
    assert disk["MetricName"] == "KafkaDataLogsDiskUsed" and disk["Threshold"] == s["monitoring_msk_disk_used_percent"]
    assert {d["Name"] for d in disk["Dimensions"]} == {"Cluster Name", "Broker ID"}
    for alarm in mine.values():
        if not alarm["AlarmName"].split("/")[-1].startswith(TENANT_ALARMS):
            assert alarm["AlarmActions"] == [OPS], alarm["AlarmName"]


OWNERS = ["shared"] + sorted(h for h, t in tenants().items() if t["tenancy_tier"] == "dedicated")


def test_rds_events_of_every_owned_instance_go_to_the_ops_topic(converged, aws, env_key_arn):
    """One subscription per instance owner: its own instance only, the failover/storage/maintenance categories, the
    ops topic, enabled, tagged; the environment key lets RDS encrypt for the topic (this account's instances only)."""
    rds = aws("rds")
    subs = {s["CustSubscriptionId"]: s for s in rds.describe_event_subscriptions()["EventSubscriptionsList"]
            if s["CustSubscriptionId"].startswith(PREFIX + "-")}
    assert sorted(subs) == sorted("%s-%s-rds-events" % (PREFIX, owner) for owner in OWNERS)
    categories = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())[
        "monitoring_rds_event_categories"]
    assert {"failover", "low storage", "maintenance"} <= set(categories)
    for owner in OWNERS:
        sub = subs["%s-%s-rds-events" % (PREFIX, owner)]
        assert sub["SnsTopicArn"] == OPS and sub["SourceType"] == "db-instance" and sub["Enabled"] is True
        assert sub["SourceIdsList"] == ["%s-%s-postgres" % (PREFIX, owner)]
        assert sorted(sub["EventCategoriesList"]) == sorted(categories)
        tags = {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(
            ResourceName=sub["EventSubscriptionArn"])["TagList"]}
        assert tags["Environment"] == "local" and tags["Component"] == "monitoring"
        assert tags.get("Tenant", owner) == owner
    policy = json.loads(aws("kms").get_key_policy(KeyId=env_key_arn, PolicyName="default")["Policy"])
    statement = {s["Sid"]: s for s in policy["Statement"]}["RdsEventNotificationsPublishToEncryptedSnsTopics"]
    assert statement["Principal"] == {"Service": "events.rds.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": ["arn:aws:rds:%s:%s:db:%s-*" % (REGION, ACCOUNT, PREFIX)]}}


def test_rds_event_subscription_module_round_trip_on_the_emulator(converged, aws, tmp_path):
    """The module itself against the emulator: check mode creates nothing, create, a no-op re-run, delete."""
    name = "%s-probe-rds-events" % PREFIX
    play = tmp_path / "probe.yml"
    play.write_text("""
- name: Probe RDS event subscription
""" + SHARED_HOST_PLAY_HEADER + """  tasks:
    - name: Subscription
      manufacturing.platform.rds_event_subscription:
        name: %s
        state: "{{ probe_state }}"
        sns_topic_arn: %s
        source_ids: [%s-shared-postgres]
        event_categories: [failover]
        tags: {Probe: "yes"}
      register: probe
    - name: Result
      ansible.builtin.debug:
        msg: "probe={{ probe.actions | to_json }}"
""" % (name, OPS, PREFIX))
    rds = aws("rds")

    def names():
        return {s["CustSubscriptionId"] for s in rds.describe_event_subscriptions()["EventSubscriptionsList"]}

    try:
        check = run_playbook(str(play), "-e", "env=local", "-e", "probe_state=present", "--check")
        assert check.rc == 0 and 'create_event_subscription(%s)' % name in check.stdout and name not in names()
        first = run_playbook(str(play), "-e", "env=local", "-e", "probe_state=present")
        assert first.rc == 0 and name in names(), first.explain()
        again = run_playbook(str(play), "-e", "env=local", "-e", "probe_state=present")
        assert again.rc == 0 and "probe=[]" in again.stdout and again.changed_tasks() == [], again.explain()
        gone = run_playbook(str(play), "-e", "env=local", "-e", "probe_state=absent")
        assert gone.rc == 0 and name not in names(), gone.explain()
    finally:
        if name in names():
            rds.delete_event_subscription(SubscriptionName=name)


def test_dashboards_show_every_tenant_and_the_data_stores(converged, aws):
    cw = aws("cloudwatch")
    body = json.loads(cw.get_dashboard(DashboardName=PREFIX + "-overview")["DashboardBody"])
    text = json.dumps(body)
    for tvars in tenants().values():
        assert "%s-%s-alert-processor" % (PREFIX, tvars["tenant_id"]) in text
        assert "%s-%s-api" % (PREFIX, tvars["tenant_id"]) in text
    assert "mfg-local-shared-postgres" in text and "KafkaDataLogsDiskUsed" in text
    alarm_widgets = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert alarm_widgets and any(
        a.endswith(":alarm:%s/shared/rds-cpu" % PREFIX) for a in alarm_widgets[0]["properties"]["alarms"]
    )
    for host, tvars in tenants().items():
        names = [
            d["DashboardName"]
            for d in cw.list_dashboards(DashboardNamePrefix="%s-%s" % (PREFIX, tvars["tenant_id"]))["DashboardEntries"]
        ]
        assert (("%s-%s" % (PREFIX, tvars["tenant_id"])) in names) == (tvars["tenancy_tier"] == "dedicated"), host


def test_budget_and_its_notifications(converged, aws):
    budgets = aws("budgets")
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=PREFIX + "-monthly")["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == settings()["monitoring_budget_monthly_usd"] == 1000
    assert budget["TimeUnit"] == "MONTHLY" and budget["CostFilters"] == {"TagKeyValue": ["user:Environment$local"]}
    notes = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=PREFIX + "-monthly")[
        "Notifications"
    ]
    assert sorted((n["NotificationType"], float(n["Threshold"])) for n in notes) == [
        ("ACTUAL", 80.0),
        ("ACTUAL", 100.0),
        ("FORECASTED", 100.0),
    ]


def test_monitoring_facts_published(converged):
    outputs = json.loads((ROOT / "outputs" / "local.json").read_text())["hosts"]
    assert outputs["platform-shared"]["monitoring_ops_topic_arn"] == OPS
    assert outputs["platform-shared"]["monitoring_dashboard_name"] == PREFIX + "-overview"
    for host, tvars in tenants().items():
        assert outputs[host]["monitoring_alert_topic_arn"] == alert_topic(tvars["tenant_id"])
        assert len(outputs[host]["monitoring_alarm_names"]) >= len(TENANT_ALARMS)


def test_check_mode_makes_no_mutating_request(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert site_check_diff.mutating == []
    assert monitoring_changes(run) == []
    assert {e["service"] for e in site_check_diff.requests} >= {"sns", "monitoring", "budgets"}
