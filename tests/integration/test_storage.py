"""Storage role (issue 4): KMS keys, the data-lake buckets, lifecycle tiers per tenant, per-tenant access.

State is read back with boto3 after the session's converge of the reference fleet (`converged`). Check mode,
diff and --limit runs use the storage-only playbook of the role's molecule scenario with a copy of the
inventory, so they measure this role's requests only. Tenant isolation is proven by requests against a second
emulator that enforces IAM (test_storage_access.py).
"""

from __future__ import annotations

import copy
import json

import pytest
from support.playbook import ROOT, load_fleet, run_playbook, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "123456789012"
PREFIX = "mfg-local"
SHARED_BUCKET = "%s-data-%s" % (PREFIX, ACCOUNT)
LOG_BUCKET = "%s-s3-access-logs-%s" % (PREFIX, ACCOUNT)
DEDICATED = "customer-123"
DEDICATED_BUCKET = "%s-%s-data-%s" % (PREFIX, DEDICATED, ACCOUNT)
STORAGE_PLAYBOOK = ROOT / "roles" / "storage" / "molecule" / "default" / "converge.yml"
LIFECYCLE_TASKS = ("Lifecycle of the shared bucket", "Lifecycle rules of this run's shared-tier tenants",
                   "Lifecycle of the dedicated tenant's bucket")


def tenants(fleet):
    return fleet["all"]["children"]["tenants"]["hosts"]


def group_vars():
    import yaml

    base = yaml.safe_load((ROOT / "group_vars" / "all" / "storage.yml").read_text())
    base.update({k: v for k, v in yaml.safe_load((ROOT / "group_vars" / "env_local.yml").read_text()).items()
                 if k.startswith("storage_")})
    return base


def expected_rule(tenant_id, tvars):
    gv = group_vars()
    transitions = tvars.get("storage_lifecycle_transitions", gv["storage_lifecycle_transitions"])
    return {
        "ID": "tenant-%s" % tenant_id,
        "Filter": {"Prefix": "tenants/%s/" % tenant_id},
        "Status": "Enabled",
        "Transitions": [{"Days": t["days"], "StorageClass": t["storage_class"]} for t in transitions],
        "NoncurrentVersionExpiration": {"NoncurrentDays": tvars.get("storage_noncurrent_version_expiration_days",
                                                                    gv["storage_noncurrent_version_expiration_days"])},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": tvars.get(
            "storage_abort_incomplete_multipart_days", gv["storage_abort_incomplete_multipart_days"])},
    }


def canonical(rules):
    from ansible_collections.manufacturing.platform.plugins.module_utils.storage_lifecycle import normalize_rules

    return sorted(normalize_rules(rules), key=lambda r: r["ID"])


def storage_changes(run):
    return [(t, h) for t, h in run.changed_tasks() if t.startswith("manufacturing.platform.storage")]


@pytest.fixture(scope="module")
def keys(converged, aws):
    kms = aws("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    return kms, aliases


# ---------------------------------------------------------------------------------------------------- KMS


@pytest.mark.parametrize("alias", ["alias/%s" % PREFIX, "alias/%s-%s" % (PREFIX, DEDICATED)])
def test_customer_managed_keys_with_alias_and_rotation(keys, alias):
    kms, aliases = keys
    assert alias in aliases, sorted(aliases)
    key_id = aliases[alias]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_no_key_for_shared_tier_tenants(keys):
    _kms, aliases = keys
    assert "alias/%s-customer-456" % PREFIX not in aliases
    assert "alias/%s-customer-789" % PREFIX not in aliases


def test_key_policy_scopes_logs_and_services(keys):
    kms, aliases = keys
    policy = json.loads(kms.get_key_policy(KeyId=aliases["alias/%s" % PREFIX], PolicyName="default")["Policy"])
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    assert stmts["AccountRootAdministersTheKeyAndEnablesIamPolicies"]["Principal"] == {
        "AWS": "arn:aws:iam::%s:root" % ACCOUNT}
    logs = stmts["CloudWatchLogsForThisEnvironmentsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    arns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert all(a.startswith("arn:aws:logs:us-east-1:%s:log-group:" % ACCOUNT) and PREFIX in a for a in arns)
    via = stmts["PlatformPrincipalsThroughPlatformServices"]["Condition"]
    assert via["StringEquals"]["kms:CallerAccount"] == ACCOUNT
    assert {"sns.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com",
            "rds.us-east-1.amazonaws.com"} <= set(via["StringEquals"]["kms:ViaService"])
    assert via["ArnLike"]["aws:PrincipalArn"] == ["arn:aws:iam::%s:role/%s-*" % (ACCOUNT, PREFIX)]
    cost_alerts = stmts["BudgetAndCostAnomalyAlertsPublishToEncryptedSnsTopics"]  # they publish to the ops topic
    assert set(cost_alerts["Principal"]["Service"]) == {"budgets.amazonaws.com", "costalerts.amazonaws.com"}
    assert cost_alerts["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    alarms = stmts["CloudWatchAlarmsPublishToEncryptedSnsTopics"]  # confused-deputy protection: this account's alarms
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                   "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:%s:alarm:*" % ACCOUNT}}
    tenant = json.loads(kms.get_key_policy(KeyId=aliases["alias/%s-%s" % (PREFIX, DEDICATED)],
                                           PolicyName="default")["Policy"])
    tstmts = {s["Sid"]: s for s in tenant["Statement"]}
    assert tstmts["PlatformPrincipalsThroughPlatformServices"]["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        "arn:aws:iam::%s:role/%s-%s-alert-processor" % (ACCOUNT, PREFIX, DEDICATED)]


# ---------------------------------------------------------------------------------------------------- buckets


@pytest.mark.parametrize("bucket, alias", [(SHARED_BUCKET, "alias/%s" % PREFIX),
                                           (DEDICATED_BUCKET, "alias/%s-%s" % (PREFIX, DEDICATED))])
def test_data_bucket_settings(aws, keys, bucket, alias):
    kms, aliases = keys
    s3 = aws("s3")
    key_arn = kms.describe_key(KeyId=aliases[alias])["KeyMetadata"]["Arn"]
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"] == {"TargetBucket": LOG_BUCKET,
                                                                      "TargetPrefix": bucket + "/"}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    stmts = {s["Sid"]: s for s in policy["Statement"]}
    tls = stmts["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    unencrypted = stmts["DenyNonKmsEncryptedPuts"]
    assert unencrypted["Effect"] == "Deny" and unencrypted["Action"] == "s3:PutObject"
    assert unencrypted["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    assert stmts["DenyPutsWithOtherKmsKey"]["Condition"]["StringNotEqualsIfExists"] == {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}
    assert "DenyTenantPrincipalsOutsideOwnPrefix" in stmts and "DenyTenantPrincipalsListingOtherPrefixes" in stmts
    assert ("DenyOtherTenantPrincipals" in stmts) == (bucket == DEDICATED_BUCKET)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["Environment"] == "local" and tags["Platform"] == "manufacturing"
    if bucket == DEDICATED_BUCKET:
        assert tags["Tenant"] == DEDICATED


def test_log_bucket(aws, converged):
    s3 = aws("s3")
    rule = s3.get_bucket_encryption(Bucket=LOG_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_ownership_controls(Bucket=LOG_BUCKET)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    policy = json.loads(s3.get_bucket_policy(Bucket=LOG_BUCKET)["Policy"])
    delivery = policy["Statement"][0]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=LOG_BUCKET)["Rules"]
    assert [r["Expiration"]["Days"] for r in rules] == [group_vars()["storage_access_log_expiration_days"]]


# ---------------------------------------------------------------------------------------------------- lifecycle


def test_shared_bucket_lifecycle_exactly_one_rule_per_shared_tenant(aws, converged):
    fleet = tenants(load_fleet())
    expected = sorted((expected_rule(t["tenant_id"], t) for t in fleet.values() if t["tenancy_tier"] == "shared"),
                      key=lambda r: r["ID"])
    actual = canonical(aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"])
    assert actual == expected


def test_per_tenant_override_is_applied(aws, converged):
    override = tenants(load_fleet())["customer-789"]["storage_lifecycle_transitions"]
    rules = {r["ID"]: r for r in canonical(aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"])}
    assert [t["Days"] for t in rules["tenant-customer-789"]["Transitions"]] == [t["days"] for t in override]
    assert rules["tenant-customer-789"]["Transitions"] != rules["tenant-customer-456"]["Transitions"]


def test_dedicated_bucket_lifecycle(aws, converged):
    tvars = tenants(load_fleet())[DEDICATED]
    actual = canonical(aws("s3").get_bucket_lifecycle_configuration(Bucket=DEDICATED_BUCKET)["Rules"])
    assert actual == [expected_rule(DEDICATED, tvars)]


# ---------------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("tenant, bucket, prefix", [
    ("customer-456", SHARED_BUCKET, "tenants/customer-456/"),
    (DEDICATED, DEDICATED_BUCKET, ""),
])
def test_tenant_policy(aws, keys, tenant, bucket, prefix):
    iam = aws("iam")
    arn = "arn:aws:iam::%s:policy/%s-%s-storage" % (ACCOUNT, PREFIX, tenant)
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    stmts = {s["Sid"]: s for s in doc["Statement"]}
    assert stmts["ReadWriteOwnObjects"]["Resource"] == "arn:aws:s3:::%s/%s*" % (bucket, prefix)
    if prefix:
        assert stmts["ListOwnData"]["Condition"] == {"StringLike": {"s3:prefix": [prefix, prefix + "*"]}}
    kms_stmt = stmts["UseTheKeyOnlyThroughS3ForOwnData"]
    assert kms_stmt["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms_stmt["Resource"].startswith("arn:aws:kms:us-east-1:%s:key/" % ACCOUNT)
    assert kms_stmt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    # bucket keys are on: S3 asks KMS with the bucket ARN as encryption context
    assert kms_stmt["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::%s" % bucket}


# ---------------------------------------------------------------------------------------------------- runs


def test_second_converge_changes_nothing_in_storage(converged):
    _first, second = converged
    assert storage_changes(second) == []


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return write_inventory(tmp_path_factory.mktemp("storage-ref"), load_fleet())


def test_check_diff_shows_nothing_and_makes_no_mutating_request(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert [(t, h) for t, h in run.changed_tasks() if t.startswith("manufacturing.platform.storage")] == []
    assert any(e["service"] in ("s3", "kms") for e in site_check_diff.requests), "the preview read no storage state"
    assert site_check_diff.mutating == []


def test_changing_one_tenants_days_shows_exactly_that_rule(converged, aws, tmp_path, request_log):
    fleet = copy.deepcopy(load_fleet())
    tenants(fleet)["customer-456"]["storage_lifecycle_transitions"] = [
        {"days": 45, "storage_class": "STANDARD_IA"}, {"days": 100, "storage_class": "GLACIER"},
        {"days": 200, "storage_class": "DEEP_ARCHIVE"}]
    inventory = write_inventory(tmp_path / "inv", fleet)
    before = aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"]
    for extra in ([], ["--limit", "customer-456"]):  # the shared layer's run, and the tenant's own run
        mark = request_log.mark()
        run = run_playbook(STORAGE_PLAYBOOK, "-i", str(inventory), "-e", "env=local", "--check", "--diff", *extra)
        assert run.rc == 0, run.explain()
        changed = storage_changes(run)
        assert len(changed) == 1 and changed[0][0].split(" : ", 1)[1].startswith(LIFECYCLE_TASKS), changed
        (_task, _host, result), = [r for r in run.task_results(changed[0][0]) if r[2].get("changed")]
        assert result["changed_rules"] == ["tenant-customer-456"]
        diff = result["diff"] if isinstance(result["diff"], dict) else result["diff"][0]
        assert list(diff["before"]["rules"]) == list(diff["after"]["rules"]) == ["tenant-customer-456"]
        assert [t["Days"] for t in diff["after"]["rules"]["tenant-customer-456"]["Transitions"]] == [45, 100, 200]
        assert [t["Days"] for t in diff["before"]["rules"]["tenant-customer-456"]["Transitions"]] == [30, 90, 180]
        assert request_log.mutating_since(mark) == []
    assert aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"] == before


def test_limited_tenant_run_changes_nothing_and_keeps_other_rules(converged, inventory, aws):
    before = canonical(aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"])
    run = run_playbook(STORAGE_PLAYBOOK, "-i", str(inventory), "-e", "env=local", "--limit", "customer-789")
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.changed_tasks()
    assert canonical(aws("s3").get_bucket_lifecycle_configuration(Bucket=SHARED_BUCKET)["Rules"]) == before


def test_limited_tenant_run_without_shared_layer_fails_clearly(converged, inventory, request_log):
    mark = request_log.mark()
    run = run_playbook(STORAGE_PLAYBOOK, "-i", str(inventory), "-e", "env=local", "-e", "platform_name=nolayer",
                       "--limit", "customer-456")
    assert run.rc != 0
    messages = run.failure_messages()
    assert any("run the shared layer first" in m.lower() and "alias/nolayer-local" in m
               for m in messages), run.explain()
    assert request_log.mutating_since(mark) == []


# ---------------------------------------------------------------------------------------------------- preflight

BAD_LIFECYCLE = [
    ("days-not-increasing", [{"days": 90, "storage_class": "STANDARD_IA"}, {"days": 60, "storage_class": "GLACIER"}],
     "storage_lifecycle_transitions[1].days", "strictly increasing"),
    ("unknown-storage-class", [{"days": 30, "storage_class": "GLACIER_DEEP"}],
     "storage_lifecycle_transitions[0].storage_class", "not a storage class"),
    ("negative-days", [{"days": -30, "storage_class": "GLACIER"}],
     "storage_lifecycle_transitions[0].days", "negative"),
    ("ia-too-early", [{"days": 7, "storage_class": "STANDARD_IA"}],
     "storage_lifecycle_transitions[0].days", "at least 30"),
    ("glacier-too-soon-after-ia", [{"days": 30, "storage_class": "STANDARD_IA"},
                                   {"days": 40, "storage_class": "GLACIER"}],
     "storage_lifecycle_transitions[1].days", "at least 30"),
]


@pytest.fixture(scope="module")
def bad_lifecycle_runs(tmp_path_factory, request_log):
    mark = request_log.mark()
    runs = {}
    for name, transitions, _field, _words in BAD_LIFECYCLE:
        fleet = copy.deepcopy(load_fleet())
        tenants(fleet)["customer-456"]["storage_lifecycle_transitions"] = transitions
        inventory = write_inventory(tmp_path_factory.mktemp(name), fleet)
        runs[name] = run_playbook("site.yml", "-i", str(inventory), "-e", "env=local")
    return runs, request_log.mutating_since(mark)


@pytest.mark.parametrize("case", BAD_LIFECYCLE, ids=[c[0] for c in BAD_LIFECYCLE])
def test_preflight_rejects_bad_lifecycle(bad_lifecycle_runs, case):
    name, _transitions, field, words = case
    run = bad_lifecycle_runs[0][name]
    assert run.rc != 0 and run.changed == 0
    messages = run.failure_messages()
    assert len(messages) == 1 and messages[0].startswith("Stop on inventory problems"), run.explain()
    assert "customer-456: %s: " % field in messages[0] and words in messages[0], messages[0]


def test_bad_lifecycle_input_makes_no_mutating_request(bad_lifecycle_runs):
    assert bad_lifecycle_runs[1] == []
