"""Teardown (issue 8, playbooks/destroy.yml) on a local cloud of its own, so the session's converged reference fleet
that the other tests read is never touched: the test starts moto + PostgreSQL + TimescaleDB + Kafka with
localcloud/ctl.py in a temporary state dir on free ports, converges a two-tenant fleet (one dedicated, one shared-tier)
there once, and then, in this order:

* destroy refuses without -e confirm_destroy=<env> (and with a wrong one, and in prod without data-retention
  choices), sending no mutating request;
* rds_postgres_instance refuses a protected instance unless told to turn the protection off, and names each final
  snapshot uniquely (a second deletion of the same identifier does not collide);
* destroy --check of the tenants reports changes and sends no mutating request;
* the shared layer is refused, with no mutating request, when a --limit takes it in without every tenant
  (--limit platform-shared, --limit '!<tenant>', --limit 'platform*'), and, with its own confirmation
  (-e confirm_destroy_shared=<env>), while any tenant VPC, peering, database, schema or topic is left on it (read
  back live, before any deletion: a tenant of the same run is not deleted either);
* destroy --limit <dedicated tenant>, then --limit <shared-tier tenant>, leaves nothing tagged with that tenant nor
  named after it, and every other resource of the environment in place;
* the shared layer is refused while something that belongs to no tenant of the inventory is on it (a database made
  by hand, a topic of a tenant that left the inventory);
* destroy of the shared layer alone, confirmed, once the tenants are gone, with destroy_bucket_policy=retain keeps
  the data-lake and access-log buckets, the KMS key and the log groups, and nothing else;
* destroy of the whole environment (buckets emptied) leaves nothing tagged with the environment
  (resourcegroupstaggingapi plus the describes of what that API does not cover: IAM roles and policies, REST APIs,
  budgets, dashboards, alarms, topics, log groups, buckets);
* a second destroy changes nothing and sends no mutating request.

KMS keys pending deletion and secrets scheduled for deletion count as deleted (that is what deleting them means).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import boto3
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from support.databases import pg_connect, tsdb_connect
from support.playbook import ROOT, SHARED_HOST_PLAY_HEADER, load_fleet, run_playbook, write_inventory

from localcloud.requestlog import RequestLog

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = "local"
PREFIX = "mfg-local"
CTL = ROOT / "localcloud" / "ctl.py"
DEDICATED, SHARED_TIER = "customer-123", "customer-456"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    state = tmp_path_factory.mktemp("destroy-localcloud")
    env = dict(
        os.environ,
        LOCALCLOUD_DIR=str(state),
        LOCALCLOUD_MOTO_PORT=str(free_port()),
        LOCALCLOUD_PG_PORT=str(free_port()),
        LOCALCLOUD_TSDB_PORT=str(free_port()),
        LOCALCLOUD_KAFKA_PORT=str(free_port()),
    )
    up = subprocess.run(
        [sys.executable, str(CTL), "up"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, json.loads((state / "endpoints.json").read_text())
    finally:
        subprocess.run(
            [sys.executable, str(CTL), "down", "--purge"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    fleet = load_fleet()
    hosts = fleet["all"]["children"]["tenants"]["hosts"]
    fleet["all"]["children"]["tenants"]["hosts"] = {h: v for h, v in hosts.items() if h in (DEDICATED, SHARED_TIER)}
    return write_inventory(tmp_path_factory.mktemp("destroy-inventory"), fleet)


@pytest.fixture(scope="module")
def aws(cloud):
    cfg = cloud[1]["aws"]
    session = boto3.session.Session(
        aws_access_key_id=cfg["access_key"], aws_secret_access_key=cfg["secret_key"], region_name=cfg["region"]
    )
    return lambda service: session.client(service, endpoint_url=cfg["endpoint_url"])


@pytest.fixture(scope="module")
def play(cloud, inventory, tmp_path_factory):
    outputs = tmp_path_factory.mktemp("destroy-outputs")

    def run(playbook, *args):
        return run_playbook(
            playbook,
            "-i",
            str(inventory),
            "-e",
            "env=" + ENV,
            "-e",
            "platform_outputs_dir=%s" % outputs,
            *args,
            env=cloud[0],
        )

    return run


@pytest.fixture(scope="module")
def converged(play):
    run = play("site.yml")
    assert run.rc == 0, run.explain()
    return run


def deleted_ec2_state(aws, arn):
    kind, ident = arn.rsplit(":", 1)[1].split("/", 1)
    if kind == "natgateway":
        return aws("ec2").describe_nat_gateways(NatGatewayIds=[ident])["NatGateways"][0]["State"] == "deleted"
    if kind == "vpc-peering-connection":
        found = aws("ec2").describe_vpc_peering_connections(VpcPeeringConnectionIds=[ident])["VpcPeeringConnections"]
        return found[0]["Status"]["Code"] == "deleted"
    return False


def tagged(aws, **tags):
    """ARNs of live resources carrying all these tags (pending-deletion keys and secrets are gone)."""
    filters = [{"Key": k, "Values": [v]} for k, v in tags.items()]
    arns = []
    for page in aws("resourcegroupstaggingapi").get_paginator("get_resources").paginate(TagFilters=filters):
        arns += [r["ResourceARN"] for r in page["ResourceTagMappingList"]]
    live = []
    for arn in arns:
        # Emulator artefact (docs/emulator-gaps.md): moto keeps a deleted NAT gateway or VPC peering connection,
        # with its tags, in state 'deleted' for ever; AWS shows it in that state for an hour or two and then
        # forgets it. Either way it is gone, not a leftover.
        if arn.startswith("arn:aws:ec2:") and deleted_ec2_state(aws, arn):
            continue
        if (
            arn.startswith("arn:aws:kms:")
            and aws("kms").describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion"
        ):
            continue
        if arn.startswith("arn:aws:secretsmanager:"):
            try:
                if aws("secretsmanager").describe_secret(SecretId=arn).get("DeletedDate"):
                    continue
            except aws("secretsmanager").exceptions.ResourceNotFoundException:
                continue
        live.append(arn)
    return sorted(live)


def untaggable(aws, name_part):
    """Resources the tagging API does not list, found by name."""
    found = []
    iam = aws("iam")
    found += [
        "role:" + r["RoleName"]
        for r in iam.list_roles()["Roles"]
        if r["RoleName"].startswith(PREFIX) and name_part in r["RoleName"]
    ]
    found += [
        "policy:" + p["PolicyName"]
        for p in iam.list_policies(Scope="Local")["Policies"]
        if p["PolicyName"].startswith(PREFIX) and name_part in p["PolicyName"]
    ]
    found += [
        "api:" + a["name"]
        for a in aws("apigateway").get_rest_apis()["items"]
        if a["name"].startswith(PREFIX) and name_part in a["name"]
    ]
    found += [
        "dashboard:" + d["DashboardName"]
        for d in aws("cloudwatch").list_dashboards()["DashboardEntries"]
        if d["DashboardName"].startswith(PREFIX) and name_part in d["DashboardName"]
    ]
    found += [
        "alarm:" + a["AlarmName"]
        for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
        if name_part in a["AlarmName"]
    ]
    found += [
        "budget:" + b["BudgetName"]
        for b in aws("budgets").describe_budgets(AccountId="123456789012").get("Budgets", [])
        if b["BudgetName"].startswith(PREFIX) and name_part in b["BudgetName"]
    ]
    found += [
        "topic:" + t["TopicArn"]
        for t in aws("sns").list_topics()["Topics"]
        if PREFIX in t["TopicArn"] and name_part in t["TopicArn"]
    ]
    found += [
        "log-group:" + g["logGroupName"]
        for g in aws("logs").describe_log_groups()["logGroups"]
        if PREFIX in g["logGroupName"] and name_part in g["logGroupName"]
    ]
    found += [
        "bucket:" + b["Name"]
        for b in aws("s3").list_buckets()["Buckets"]
        if b["Name"].startswith(PREFIX) and name_part in b["Name"]
    ]
    return sorted(found)


def request_log(cloud):
    return RequestLog(cloud[1]["aws"]["request_log"])


def destroy(play, *args):
    return play("playbooks/destroy.yml", "-e", "confirm_destroy=" + ENV, *args)


def test_destroy_refuses_without_confirmation(play, cloud):
    log = request_log(cloud)
    mark = log.mark()
    for args in (
        [],
        ["-e", "confirm_destroy=prod"],
        ["-e", "confirm_destroy=%s" % ENV, "-e", "destroy_bucket_policy=keep"],
        ["-e", "confirm_destroy=%s" % ENV, "-e", "tenant=customer-999"],
        # prod: the confirmation alone is not enough, the data-retention choices must be explicit
        ["-e", "env=prod", "-e", "confirm_destroy=prod"],
        ["-e", "env=prod", "-e", "confirm_destroy=prod", "-e", "destroy_final_snapshot=false"],
    ):
        run = play("playbooks/destroy.yml", *args)
        assert run.rc != 0 and any("nothing was deleted" in m for m in run.failure_messages()), run.explain()
    assert log.mutating_since(mark) == []


PROBE_PLAYBOOK = """
- name: Delete a probe RDS instance with our module
""" + SHARED_HOST_PLAY_HEADER + """  tasks:
    - name: Delete the probe instance, with a final snapshot
      manufacturing.platform.rds_postgres_instance:
        identifier: "{{ probe }}"
        state: absent
        disable_deletion_protection: "{{ disable | bool }}"
        # moto keeps a retained automated backup as snapshot rds:<id>-<YYYY-MM-DD-HH-MM>, which a new instance of the
        # same name created within the same minute collides with (on AWS it is a separate resource): not retained here.
        delete_automated_backups: true
        wait_timeout: 60
"""


def test_rds_final_snapshots_are_unique_and_protection_is_turned_off_only_on_request(play, cloud, aws, tmp_path):
    """databases/delete.yml passes databases_disable_deletion_protection (set by destroy.yml after its confirmation)
    to rds_postgres_instance: without it a protected instance is refused before anything is deleted; with it the
    protection is turned off, and the instance deleted with a final snapshot whose name is unique per deletion."""
    playbook = tmp_path / "rds_probe.yml"
    playbook.write_text(PROBE_PLAYBOOK)
    rds, log, probe = aws("rds"), request_log(cloud), "destroy-probe-postgres"

    def create():
        rds.create_db_instance(
            DBInstanceIdentifier=probe,
            DBInstanceClass="db.t4g.micro",
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="probe",
            MasterUserPassword="probe-password-1",
            DeletionProtection=True,
        )

    def delete(*args):
        return play(str(playbook), "-e", "probe=" + probe, *args)

    def final_snapshots():
        found = rds.describe_db_snapshots(DBInstanceIdentifier=probe, SnapshotType="manual")["DBSnapshots"]
        return sorted(s["DBSnapshotIdentifier"] for s in found)

    create()
    mark = log.mark()
    refused = delete("-e", "disable=false")
    assert refused.rc != 0 and any("deletion protection" in m for m in refused.failure_messages()), refused.explain()
    preview = delete("-e", "disable=true", "--check")
    assert preview.rc == 0 and preview.changed, preview.explain()
    assert log.mutating_since(mark) == []
    assert rds.describe_db_instances(DBInstanceIdentifier=probe)["DBInstances"][0]["DeletionProtection"] is True

    names = []
    for _ in range(2):  # the same identifier created and deleted twice: two final snapshots, no collision
        deleted = delete("-e", "disable=true")
        assert deleted.rc == 0 and deleted.changed, deleted.explain()
        names += [r["final_snapshot_identifier"] for _, _, r in deleted.task_results() if r.get("changed")]
        with pytest.raises(rds.exceptions.DBInstanceNotFoundFault):
            rds.describe_db_instances(DBInstanceIdentifier=probe)
        if len(names) == 1:
            create()
    assert len(set(names)) == 2 and all(re.fullmatch(probe + r"-final-\d{8}-\d{6}", n) for n in names), names
    assert final_snapshots() == sorted(names)
    again = delete("-e", "disable=true")
    assert again.rc == 0 and again.changed == 0, again.explain()
    for name in names:
        rds.delete_db_snapshot(DBSnapshotIdentifier=name)


def environment(aws):
    return set(tagged(aws, Environment=ENV)) | set(untaggable(aws, ""))


def tenant(aws, tenant_id):
    return set(tagged(aws, Tenant=tenant_id)) | set(untaggable(aws, tenant_id))


def test_destroy_check_mode_sends_no_mutating_request(converged, play, aws, cloud):
    # The tenants' preview: a whole-environment --check stops at the shared VPC, which refuses to go while tenant
    # VPCs are peered to it (check mode deleted none of them).
    before, log = environment(aws), request_log(cloud)
    mark = log.mark()
    run = destroy(play, "--check", "--limit", "%s,%s" % (DEDICATED, SHARED_TIER))
    assert run.rc == 0, run.explain()
    assert run.changed > 0  # it reports what it would delete ...
    assert log.mutating_since(mark) == []  # ... and deletes nothing
    assert environment(aws) == before


@pytest.mark.parametrize("limit", ["platform-shared", "!" + DEDICATED, "platform*"])
def test_destroy_refuses_the_shared_layer_without_every_tenant(converged, play, aws, cloud, limit):
    before, log = environment(aws), request_log(cloud)
    mark = log.mark()
    run = destroy(play, "--limit", limit)
    assert run.rc != 0, run.explain()
    refusal = [m for m in run.failure_messages() if "nothing was deleted" in m and "confirm_destroy_shared" in m]
    assert refusal, run.explain()
    out = sorted({DEDICATED, SHARED_TIER} - ({SHARED_TIER} if limit.startswith("!") else set()))
    assert "but not the tenants %s," % ", ".join(out) in refusal[0], refusal[0]
    assert log.mutating_since(mark) == []
    assert environment(aws) == before


def shared_usage_refusal(run):
    found = [m for m in run.failure_messages() if "destroy: refusing to delete the shared layer" in m]
    assert run.rc != 0 and found, run.explain()
    return found[0]


def test_destroy_shared_layer_confirmed_still_refuses_while_tenants_have_data_on_it(converged, play, aws, cloud):
    """With -e confirm_destroy_shared the inventory rule is lifted, the live one is not: the shared layer is read back
    (tenant VPCs, peerings into the shared VPC, databases, TimescaleDB schemas, topics) before anything is deleted,
    and the run refuses while anything of a tenant outside the run is left, naming each one."""
    before, log, databases_before = environment(aws), request_log(cloud), database_objects(cloud)
    mark = log.mark()
    alone = shared_usage_refusal(destroy(play, "--limit", "platform-shared", "-e", "confirm_destroy_shared=" + ENV))
    assert "(nothing was deleted)" in alone
    for tenant_id in (DEDICATED, SHARED_TIER):
        ident = "t_" + tenant_id.replace("-", "_")
        assert re.search(r"vpc vpc-\w+ \(%s-%s\)" % (PREFIX, tenant_id), alone), alone
        for item in ("database " + ident, "schema " + ident, "topic %s.telemetry" % tenant_id):
            assert item in alone, alone
    assert re.search(r"tenant %s \([^;]*peering pcx-\w+" % SHARED_TIER, alone), alone  # the shared tier is peered

    # The shared-tier tenant is in the run, the dedicated one is not: refused before the shared-tier tenant goes.
    with_one = shared_usage_refusal(
        destroy(play, "--limit", "platform-shared," + SHARED_TIER, "-e", "confirm_destroy_shared=" + ENV)
    )
    assert "tenant " + DEDICATED in with_one and "tenant " + SHARED_TIER not in with_one, with_one
    assert log.mutating_since(mark) == []
    assert environment(aws) == before
    assert database_objects(cloud) == databases_before


def database_objects(cloud):
    """Tenant roles/databases on the private cloud's PostgreSQL, tenant roles/schemas on its TimescaleDB."""
    with pg_connect(cloud[1]) as conn:
        found = {"pg-db:" + r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")}
        found |= {"pg-role:" + r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 't\\_%'")}
    with tsdb_connect(cloud[1]) as conn:
        found |= {"ts-schema:" + r[0]
                  for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")}
        found |= {"ts-role:" + r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 't\\_%'")}
    return found


@pytest.mark.parametrize("tenant_id", [DEDICATED, SHARED_TIER])
def test_destroy_one_tenant_leaves_nothing_of_it_and_keeps_the_rest(converged, play, aws, cloud, tenant_id):
    before, mine = environment(aws), tenant(aws, tenant_id)
    assert any(":vpc/" in arn for arn in mine) and any(a.startswith("api:") for a in mine), sorted(mine)
    ident = "t_" + tenant_id.replace("-", "_")
    databases_before = database_objects(cloud)
    its_databases = {kind + ":" + ident for kind in ("pg-db", "pg-role", "ts-schema", "ts-role")}
    assert its_databases <= databases_before, databases_before  # databases_state=absent has something to remove
    run = destroy(play, "--limit", tenant_id)
    assert run.rc == 0, run.explain()
    assert tenant(aws, tenant_id) == set()
    assert environment(aws) == before - mine  # the other tenant and the shared layer are untouched
    assert database_objects(cloud) == databases_before - its_databases  # its SQL objects gone, the others kept


def test_destroy_shared_layer_refuses_what_belongs_to_no_tenant(converged, play, aws, cloud):
    """Every tenant of the inventory is gone (the tests above), but a database made by hand and a topic of a tenant
    that left the inventory are on the shared layer: a whole-environment destroy refuses before any deletion."""
    assert not tenant(aws, DEDICATED) and not tenant(aws, SHARED_TIER)
    endpoints = cloud[1]
    kafka = AdminClient({"bootstrap.servers": endpoints["kafka"]["bootstrap_servers"]})
    topic = "customer-777.telemetry"
    kafka.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    with pg_connect(endpoints) as conn:
        conn.autocommit = True
        conn.execute("CREATE DATABASE reporting")
    try:
        before, log = environment(aws), request_log(cloud)
        mark = log.mark()
        refusal = shared_usage_refusal(destroy(play))
        assert "no tenant of the platform (database reporting)" in refusal, refusal
        assert "tenant customer-777 (topic %s)" % topic in refusal, refusal
        assert log.mutating_since(mark) == []
        assert environment(aws) == before
    finally:
        kafka.delete_topics([topic])[topic].result(30)
        with pg_connect(endpoints) as conn:
            conn.autocommit = True
            conn.execute("DROP DATABASE IF EXISTS reporting")


def test_destroy_shared_layer_alone_once_confirmed_retaining_data(converged, play, aws):
    """The tenants are gone: the shared layer alone goes with its own confirmation; with
    destroy_bucket_policy=retain only the data-lake and access-log buckets, the KMS key and the log groups stay."""
    run = destroy(play, "--limit", "platform-shared", "-e", "confirm_destroy_shared=" + ENV,
                  "-e", "destroy_bucket_policy=retain")
    assert run.rc == 0, run.explain()
    left = environment(aws)
    buckets = {"arn:aws:s3:::%s-data-123456789012" % PREFIX, "arn:aws:s3:::%s-s3-access-logs-123456789012" % PREFIX}
    assert buckets <= left
    assert {a.split(":")[2] for a in left if a.startswith("arn:")} == {"s3", "kms", "logs"}, sorted(left)
    assert {a.split(":")[0] for a in left if not a.startswith("arn:")} == {"bucket", "log-group"}, sorted(left)
    key = aws("kms").describe_key(KeyId="alias/" + PREFIX)["KeyMetadata"]
    assert key["KeyState"] == "Enabled" and key["Arn"] in left
    assert aws("rds").describe_db_instances()["DBInstances"] == []


def test_destroy_env_leaves_nothing_tagged_with_it(converged, play, aws):
    run = destroy(play)
    assert run.rc == 0, run.explain()
    assert environment(aws) == set()


def test_second_destroy_changes_nothing(converged, play, aws, cloud):
    log = request_log(cloud)
    mark = log.mark()
    run = destroy(play)
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.changed_tasks()
    assert log.mutating_since(mark) == []
    assert environment(aws) == set()
