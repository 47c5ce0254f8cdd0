"""Compute role (issue 7): per tenant the alert-processor Lambda, its IAM role, DLQ, log groups and REST API.

State is read back with boto3 from the emulator after the session's converge of the reference fleet (`converged`:
site.yml -e env=local, twice). Check mode and the handler-source change run the compute molecule converge /
tenants.yml, so they measure this role's requests. The MSK event source is an emulator gap (no MSK event sources
in the emulator; env=local sets compute_event_source_enabled: false) covered by the Stubber tests of
tests/unit/plugins/modules/test_lambda_event_source_mapping_module.py.

Tenant isolation: the emulator has no IAM policy simulator, so the documents attached to each tenant's Lambda role
are read back and judged by plugins/module_utils/lambda_iam_eval.py (conservative: unknown conditions may hold).
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from support.playbook import ROOT, load_fleet, run_playbook

from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_iam_eval as ev

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "mfg-local"
COMPUTE_PLAYBOOK = ROOT / "roles" / "compute" / "molecule" / "default" / "converge.yml"
SECRET_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue"]
S3_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion"]
KAFKA_ACTIONS = ["kafka-cluster:ReadData", "kafka-cluster:WriteData", "kafka-cluster:DescribeTopic",
                 "kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
ENV_KEYS = {"TENANT_ID", "DB_SECRET_ARN", "TSDB_SECRET_ARN", "ALERT_TOPIC_ARN", "DLQ_URL", "RULE_CACHE_TTL_SECONDS",
            "API_MAX_READINGS", "MAX_FUTURE_SKEW_SECONDS", "MAX_READING_AGE_SECONDS", "CORS_ALLOW_ORIGINS",
            "LOG_LEVEL", "DB_AUTH"}


def tenants():
    return load_fleet()["all"]["children"]["tenants"]["hosts"]


def local_vars():
    return yaml.safe_load((ROOT / "group_vars" / "env_local.yml").read_text())


def fn_name(tenant):
    return "%s-%s-alert-processor" % (PREFIX, tenant)


def compute_changes(run):
    return [(t, h) for t, h in run.changed_tasks() if t.startswith("manufacturing.platform.compute")]


@pytest.fixture(scope="module")
def functions(converged, aws):
    lam = aws("lambda")
    return {t: lam.get_function(FunctionName=fn_name(t)) for t in tenants()}


@pytest.fixture(scope="module")
def role_documents(converged, aws):
    """Every policy document of each tenant's Lambda role: attached managed policies and inline policies."""
    iam = aws("iam")
    docs = {}
    for tenant in tenants():
        role = fn_name(tenant)
        found = []
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            found.append(version["PolicyVersion"]["Document"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            found.append(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        docs[tenant] = [json.loads(d) if isinstance(d, str) else d for d in found]
    return docs


@pytest.fixture(scope="module")
def apis(converged, aws):
    apigw = aws("apigateway")
    by_name = {a["name"]: a for a in apigw.get_rest_apis(limit=500)["items"]}
    return {t: by_name["%s-%s-api" % (PREFIX, t)] for t in tenants()}


# ---------------------------------------------------------------------------------------------- function


def test_function_configuration_per_tenant(functions, aws):
    gv = local_vars()
    kms = aws("kms")
    ec2 = aws("ec2")
    for tenant, tvars in tenants().items():
        fn = functions[tenant]
        config = fn["Configuration"]
        assert config["Runtime"] == "python3.12" and config["Handler"] == "alert_processor.handler.handler"
        assert config["Architectures"] == [gv["compute_architecture"]]
        assert config["MemorySize"] == gv["compute_memory_mb"] and config["Timeout"] == gv["compute_timeout_seconds"]
        assert config["TracingConfig"] == {"Mode": "Active"}
        assert set(config["Environment"]["Variables"]) == ENV_KEYS
        assert config["Environment"]["Variables"]["TENANT_ID"] == tenant
        # the reading window: older than the TimescaleDB retention (30 days) or 5 min ahead is a bad record
        assert (config["Environment"]["Variables"]["MAX_READING_AGE_SECONDS"],
                config["Environment"]["Variables"]["MAX_FUTURE_SKEW_SECONDS"]) == ("2592000", "300")
        assert config["Environment"]["Variables"]["ALERT_TOPIC_ARN"] == (
            "arn:aws:sns:%s:%s:%s-%s-alerts" % (REGION, ACCOUNT, PREFIX, tenant))
        assert not any("PASSWORD" in k or "password" in v for k, v in config["Environment"]["Variables"].items())
        alias = "alias/%s" % (PREFIX if tvars["tenancy_tier"] == "shared" else "%s-%s" % (PREFIX, tenant))
        assert config["KMSKeyArn"] == kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"], tenant
        assert fn["Concurrency"]["ReservedConcurrentExecutions"] == gv["compute_reserved_concurrency"]
        assert fn["Tags"]["Tenant"] == tenant and fn["Tags"]["Component"] == "compute"
        # VPC: the tenant VPC's private subnets and its Lambda security group
        subnets = ec2.describe_subnets(SubnetIds=config["VpcConfig"]["SubnetIds"])["Subnets"]
        assert len(subnets) == gv["network_az_count"]
        vpc_ids = {s["VpcId"] for s in subnets}
        assert len(vpc_ids) == 1
        vpc = ec2.describe_vpcs(VpcIds=list(vpc_ids))["Vpcs"][0]
        assert {t["Key"]: t["Value"] for t in vpc["Tags"]}.get("Tenant") == tenant
        assert all("private" in json.dumps(s.get("Tags", [])) for s in subnets), subnets
        groups = ec2.describe_security_groups(GroupIds=config["VpcConfig"]["SecurityGroupIds"])["SecurityGroups"]
        assert len(groups) == 1 and groups[0]["VpcId"] in vpc_ids
        assert "lambda" in json.dumps(groups[0].get("Tags", [])).lower()


def test_live_alias_points_at_the_newest_version(functions, aws):
    lam = aws("lambda")
    for tenant in tenants():
        versions = [v for v in lam.list_versions_by_function(FunctionName=fn_name(tenant))["Versions"]
                    if v["Version"].isdigit()]
        newest = max(versions, key=lambda v: int(v["Version"]))
        alias = lam.get_alias(FunctionName=fn_name(tenant), Name="live")
        assert alias["FunctionVersion"] == newest["Version"]
        assert newest["CodeSha256"] == functions[tenant]["Configuration"]["CodeSha256"]


def test_log_groups_encrypted_with_retention(converged, aws, functions):
    logs = aws("logs")
    for tenant in tenants():
        for name in ("/aws/lambda/%s" % fn_name(tenant), "/%s/%s/api/access-logs" % (PREFIX, tenant)):
            group = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
            assert group["logGroupName"] == name and group["retentionInDays"] == 7
            assert group["kmsKeyId"] == functions[tenant]["Configuration"]["KMSKeyArn"]


def test_dlq_encrypted_and_in_the_environment(functions, aws):
    sqs = aws("sqs")
    for tenant in tenants():
        url = sqs.get_queue_url(QueueName="%s-%s-alert-dlq" % (PREFIX, tenant))["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["KmsMasterKeyId"] == functions[tenant]["Configuration"]["KMSKeyArn"]
        assert functions[tenant]["Configuration"]["Environment"]["Variables"]["DLQ_URL"] == url


# ---------------------------------------------------------------------------------------------- IAM


def test_role_trust_tags_and_attached_tenant_policies(converged, aws):
    iam = aws("iam")
    for tenant in tenants():
        role = iam.get_role(RoleName=fn_name(tenant))["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
        # confused-deputy protection: Lambda acting for this account only
        assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        assert {t["Key"]: t["Value"] for t in role["Tags"]}["Tenant"] == tenant
        attached = {p["PolicyName"]
                    for p in iam.list_attached_role_policies(RoleName=fn_name(tenant))["AttachedPolicies"]}
        assert attached == {"%s-%s-storage" % (PREFIX, tenant), "%s-%s-streaming" % (PREFIX, tenant)}


def test_role_grants_its_own_resources(role_documents, functions):
    for tenant in tenants():
        docs = role_documents[tenant]
        env = functions[tenant]["Configuration"]["Environment"]["Variables"]
        for secret in (env["DB_SECRET_ARN"], env["TSDB_SECRET_ARN"]):
            assert ev.evaluate(docs, "secretsmanager:GetSecretValue", secret) == ev.ALLOW
        assert ev.evaluate(docs, "sns:Publish", env["ALERT_TOPIC_ARN"]) == ev.ALLOW
        dlq_arn = "arn:aws:sqs:%s:%s:%s-%s-alert-dlq" % (REGION, ACCOUNT, PREFIX, tenant)
        assert ev.evaluate(docs, "sqs:SendMessage", dlq_arn) == ev.ALLOW
        key = functions[tenant]["Configuration"]["KMSKeyArn"]
        assert ev.evaluate(docs, "kms:Decrypt", key, {"kms:ViaService": "lambda.%s.amazonaws.com" % REGION}) == ev.ALLOW
        assert ev.evaluate(docs, "kms:Decrypt", key, {"kms:ViaService": "ec2.%s.amazonaws.com" % REGION}) != ev.ALLOW
        assert ev.evaluate(docs, "logs:PutLogEvents", "arn:aws:logs:%s:%s:log-group:/aws/lambda/%s:log-stream:s"
                           % (REGION, ACCOUNT, fn_name(tenant))) == ev.ALLOW
        # nothing beyond its own: another log group, any secret, any topic, IAM
        other = "arn:aws:logs:%s:%s:log-group:/aws/lambda/other:log-stream:s" % (REGION, ACCOUNT)
        assert ev.evaluate(docs, "logs:PutLogEvents", other) != ev.ALLOW
        assert ev.evaluate(docs, "secretsmanager:GetSecretValue",
                           "arn:aws:secretsmanager:%s:%s:secret:other-AbCdEf" % (REGION, ACCOUNT)) != ev.ALLOW
        assert ev.evaluate(docs, "sns:Publish", "arn:aws:sns:%s:%s:other" % (REGION, ACCOUNT)) != ev.ALLOW
        assert ev.granted(docs, ["iam:PassRole", "iam:CreateRole", "lambda:UpdateFunctionCode"], "*") == []


def _resources_of(docs, service_prefix):
    found = set()
    for doc in docs:
        for stmt in doc["Statement"]:
            resources = stmt.get("Resource") or []
            for resource in ([resources] if isinstance(resources, str) else resources):
                if resource.startswith(service_prefix):
                    found.add(resource)
    return found


def test_tenant_a_is_granted_nothing_on_tenant_b(role_documents, functions):
    """Secrets, S3 prefix, Kafka topics and groups, SNS topic and DLQ of every other tenant are out of reach."""
    fleet = list(tenants())
    checked = 0
    for a in fleet:
        for b in fleet:
            if a == b:
                continue
            docs_a, docs_b = role_documents[a], role_documents[b]
            env_b = functions[b]["Configuration"]["Environment"]["Variables"]
            for secret in (env_b["DB_SECRET_ARN"], env_b["TSDB_SECRET_ARN"]):
                assert ev.granted(docs_a, SECRET_ACTIONS, secret) == [], (a, b, secret)
            assert ev.granted(docs_a, ["sns:Publish", "sns:Subscribe"], env_b["ALERT_TOPIC_ARN"]) == [], (a, b)
            dlq_b = "arn:aws:sqs:%s:%s:%s-%s-alert-dlq" % (REGION, ACCOUNT, PREFIX, b)
            assert ev.granted(docs_a, ["sqs:SendMessage", "sqs:ReceiveMessage"], dlq_b) == [], (a, b)
            # B's objects: the object patterns of B's own storage policy, made concrete
            objects_b = {r.replace("*", "readings/2026/01/01/x.json") for r in _resources_of(docs_b, "arn:aws:s3:::")
                         if "/" in r}
            assert objects_b, b
            for obj in objects_b:
                assert ev.granted(docs_a, S3_ACTIONS, obj) == [], (a, b, obj)
            bucket_b = obj.split("/", 1)[0]
            assert ev.granted(docs_a, ["s3:ListBucket"], bucket_b, {"s3:prefix": "tenants/%s/" % b}) == [], (a, b)
            # B's topics and consumer groups on its cluster
            for pattern in _resources_of(docs_b, "arn:aws:kafka:"):
                if ":topic/" in pattern or ":group/" in pattern:
                    concrete = pattern.replace("*", "telemetry")
                    assert ev.granted(docs_a, KAFKA_ACTIONS, concrete) == [], (a, b, concrete)
            checked += 1
    assert checked == len(fleet) * (len(fleet) - 1)


def test_alert_processor_connects_to_postgres_with_iam_through_its_own_proxy_as_its_own_user(
        role_documents, functions, aws):
    """DB_AUTH=iam; rds-db:connect only as the tenant's database user (and its alternating-users twin) at the proxy
    of the instance the tenant lives on, nothing for any other user or proxy. (The emulator checks no token:
    docs/emulator-gaps.md; the token itself is unit-tested.)"""
    rds = aws("rds")
    proxies = {p["DBProxyName"]: p["DBProxyArn"].split(":")[-1] for p in rds.describe_db_proxies()["DBProxies"]}
    fleet = tenants()
    users = {t: "t_" + t.replace("-", "_") for t in fleet}
    for tenant, fn in functions.items():
        assert fn["Configuration"]["Environment"]["Variables"]["DB_AUTH"] == "iam"
        tier = fleet[tenant]["tenancy_tier"]
        proxy = proxies["%s-%s-postgres" % (PREFIX, tenant if tier == "dedicated" else "shared")]
        docs = role_documents[tenant]
        for user in (users[tenant], users[tenant] + "_clone"):
            arn = "arn:aws:rds-db:%s:%s:dbuser:%s/%s" % (REGION, ACCOUNT, proxy, user)
            assert ev.granted(docs, ["rds-db:connect"], arn) == ["rds-db:connect"], (tenant, arn)
        for other, user in users.items():
            for proxy_id in proxies.values():
                if other != tenant:
                    arn = "arn:aws:rds-db:%s:%s:dbuser:%s/%s" % (REGION, ACCOUNT, proxy_id, user)
                    assert ev.granted(docs, ["rds-db:connect"], arn) == [], (tenant, arn)
        for proxy_id in set(proxies.values()) - {proxy}:
            arn = "arn:aws:rds-db:%s:%s:dbuser:%s/%s" % (REGION, ACCOUNT, proxy_id, users[tenant])
            assert ev.granted(docs, ["rds-db:connect"], arn) == [], (tenant, arn)
        assert ev.granted(docs, ["rds-db:connect"], "arn:aws:rds-db:%s:%s:dbuser:%s/postgres"
                          % (REGION, ACCOUNT, proxy)) == []


# ---------------------------------------------------------------------------------------------- secret rotation


def rotation_name(tenant):
    return "%s-%s-secret-rotation" % (PREFIX, tenant)


@pytest.fixture(scope="module")
def rotation_documents(converged, aws):
    iam = aws("iam")
    docs = {}
    for tenant in tenants():
        role = rotation_name(tenant)
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        docs[tenant] = [iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        docs[tenant] = [json.loads(d) if isinstance(d, str) else d for d in docs[tenant]]
    return docs


def test_secret_rotation_function_per_tenant_beside_its_alert_processor(functions, aws):
    lam = aws("lambda")
    for tenant, fn in functions.items():
        config = lam.get_function(FunctionName=rotation_name(tenant))["Configuration"]
        alert = fn["Configuration"]
        assert config["Handler"] == "secret_rotation.handler.handler"
        assert config["Runtime"] == alert["Runtime"] and config["Architectures"] == alert["Architectures"]
        assert config["Role"].endswith(":role/" + rotation_name(tenant))
        assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(alert["VpcConfig"]["SubnetIds"])
        assert config["VpcConfig"]["SecurityGroupIds"] == alert["VpcConfig"]["SecurityGroupIds"]
        assert config["KMSKeyArn"] == alert["KMSKeyArn"] and config["TracingConfig"] == {"Mode": "Active"}
        assert set(config["Environment"]["Variables"]) == {"LOG_LEVEL"}
        logs = aws("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/" + rotation_name(tenant))
        [group] = logs["logGroups"]
        assert group["kmsKeyId"] and group["retentionInDays"] > 0


def test_tenant_secrets_rotate_on_a_schedule_with_the_tenants_function(functions, aws):
    sm = aws("secretsmanager")
    for tenant, fn in functions.items():
        env = fn["Configuration"]["Environment"]["Variables"]
        function_arn = aws("lambda").get_function(FunctionName=rotation_name(tenant))["Configuration"]["FunctionArn"]
        for arn in (env["DB_SECRET_ARN"], env["TSDB_SECRET_ARN"]):
            described = sm.describe_secret(SecretId=arn)
            assert described["RotationEnabled"] is True, (tenant, arn)
            assert described["RotationLambdaARN"] == function_arn
            assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
            # Enabling rotation left nothing pending (RotateImmediately=false).
            assert all("AWSPENDING" not in stages for stages in described["VersionIdsToStages"].values())
            value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
            master = json.loads(sm.get_secret_value(SecretId=value["masterarn"])["SecretString"])
            assert master["username"] != value["username"] and master["password"]


def test_only_secrets_manager_for_the_tenants_secrets_may_invoke_the_rotation_function(converged, aws):
    lam, iam = aws("lambda"), aws("iam")
    for tenant in tenants():
        policy = json.loads(lam.get_policy(FunctionName=rotation_name(tenant))["Policy"])
        [stmt] = policy["Statement"]
        assert stmt["Principal"] == {"Service": "secretsmanager.amazonaws.com"}
        assert stmt["Action"] == "lambda:InvokeFunction"
        assert stmt["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            "arn:aws:secretsmanager:%s:%s:secret:%s/%s/*" % (REGION, ACCOUNT, PREFIX, tenant))
        trust = iam.get_role(RoleName=rotation_name(tenant))["Role"]["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        [assume] = trust["Statement"]
        assert assume["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert assume["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_rotation_role_writes_only_its_tenants_secrets_and_reads_only_their_admin_secrets(
        rotation_documents, role_documents, functions, aws):
    sm = aws("secretsmanager")
    write = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
    secrets = {t: [f["Configuration"]["Environment"]["Variables"][k] for k in ("DB_SECRET_ARN", "TSDB_SECRET_ARN")]
               for t, f in functions.items()}
    for a in tenants():
        docs = rotation_documents[a]
        masters = set()
        for arn in secrets[a]:
            assert sorted(ev.granted(docs, write + ["secretsmanager:GetSecretValue"], arn)) == sorted(
                write + ["secretsmanager:GetSecretValue"]), (a, arn)
            masters.add(sm.describe_secret(SecretId=json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
                                           ["masterarn"])["ARN"])
        for master in masters:
            assert ev.granted(docs, ["secretsmanager:GetSecretValue"], master) == ["secretsmanager:GetSecretValue"]
            assert ev.granted(docs, write, master) == [], (a, master)
            # The tenant's alert processor never reads an admin secret.
            assert ev.granted(role_documents[a], ["secretsmanager:GetSecretValue"], master) == [], (a, master)
        for b in tenants():
            if b != a:
                for arn in secrets[b]:
                    assert ev.granted(docs, write + ["secretsmanager:GetSecretValue"], arn) == [], (a, b, arn)
        kms = [s for d in docs for s in d["Statement"] if s["Sid"] == "KeysOnlyThroughSecretsManagerForTheseSecrets"]
        [kms] = kms
        assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "secretsmanager.%s.amazonaws.com" % REGION}
        assert set(secrets[a]) <= set(kms["Condition"]["ArnLike"]["kms:EncryptionContext:SecretARN"])


# ---------------------------------------------------------------------------------------------- REST API


def test_rest_api_resources_methods_validation_and_cors(apis, aws):
    apigw = aws("apigateway")
    origins = local_vars()["compute_cors_allow_origins"]
    for tenant, api in apis.items():
        assert api["tags"]["Tenant"] == tenant and api["endpointConfiguration"]["types"] == ["REGIONAL"]
        resources = {r["path"]: r for r in apigw.get_resources(restApiId=api["id"])["items"]}
        assert {"/telemetry", "/alerts", "/health"} <= set(resources)
        assert set(resources["/telemetry"]["resourceMethods"]) == {"POST", "OPTIONS"}
        assert set(resources["/alerts"]["resourceMethods"]) == {"GET", "OPTIONS"}
        validators = {v["id"]: v for v in apigw.get_request_validators(restApiId=api["id"])["items"]}
        models = {m["name"]: m for m in apigw.get_models(restApiId=api["id"])["items"]}
        assert "TelemetryRequest" in models and "Reading" in models
        post = apigw.get_method(restApiId=api["id"], resourceId=resources["/telemetry"]["id"], httpMethod="POST")
        assert post["apiKeyRequired"] is True
        assert validators[post["requestValidatorId"]]["validateRequestBody"] is True
        assert post["requestModels"] == {"application/json": "TelemetryRequest"}
        integration = post["methodIntegration"]
        assert integration["type"] == "AWS_PROXY" and integration["httpMethod"] == "POST"
        assert integration["uri"].endswith(":function:%s:live/invocations" % fn_name(tenant))
        for path, method in (("/alerts", "GET"), ("/health", "GET")):
            got = apigw.get_method(restApiId=api["id"], resourceId=resources[path]["id"], httpMethod=method)
            assert got["apiKeyRequired"] is True and got["methodIntegration"]["uri"] == integration["uri"]
        options = apigw.get_method(restApiId=api["id"], resourceId=resources["/telemetry"]["id"], httpMethod="OPTIONS")
        assert options["apiKeyRequired"] is False and options["methodIntegration"]["type"] == "MOCK"
        response = options["methodIntegration"]["integrationResponses"]["200"]
        assert response["responseParameters"]["method.response.header.Access-Control-Allow-Methods"] == "'OPTIONS,POST'"
        assert json.dumps(origins) in response["responseTemplates"]["application/json"]
        declared = options["methodResponses"]["200"]["responseParameters"]
        assert "method.response.header.Access-Control-Allow-Origin" in declared


def test_stage_throttling_tracing_access_logs_and_deployment_hash(apis, aws):
    apigw = aws("apigateway")
    gv = local_vars()
    for tenant, api in apis.items():
        stage = apigw.get_stage(restApiId=api["id"], stageName="v1")
        settings = stage["methodSettings"]["*/*"]
        assert settings["throttlingRateLimit"] == gv["compute_api_throttling_rate_limit"]
        assert settings["throttlingBurstLimit"] == gv["compute_api_throttling_burst_limit"]
        # execution logging of failed requests (compute_api_logging_level), never the bodies
        assert settings["loggingLevel"] == "ERROR" and not settings.get("dataTraceEnabled")
        assert stage["tracingEnabled"] is True
        assert stage["accessLogSettings"]["destinationArn"] == (
            "arn:aws:logs:%s:%s:log-group:/%s/%s/api/access-logs" % (REGION, ACCOUNT, PREFIX, tenant))
        assert "$context.requestId" in stage["accessLogSettings"]["format"]
        deployment = apigw.get_deployment(restApiId=api["id"], deploymentId=stage["deploymentId"])
        assert deployment["description"].startswith("definition sha256:")
        # redeployed only when the definition changed: one deployment after two converges
        assert len(apigw.get_deployments(restApiId=api["id"])["items"]) == 1


def test_usage_plan_and_api_key_per_tenant(apis, aws, converged):
    apigw = aws("apigateway")
    gv = local_vars()
    plans = {p["name"]: p for p in apigw.get_usage_plans()["items"]}
    keys = {k["name"]: k for k in apigw.get_api_keys(includeValues=False)["items"]}
    for tenant, api in apis.items():
        name = "%s-%s-api" % (PREFIX, tenant)
        plan = plans[name]
        assert plan["apiStages"] == [{"apiId": api["id"], "stage": "v1"}]
        assert plan["throttle"] == {"rateLimit": gv["compute_api_throttling_rate_limit"],
                                    "burstLimit": gv["compute_api_throttling_burst_limit"]}
        key = keys[name]
        assert key["enabled"] is True
        assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    # the key value never reaches the output or the log of a run
    values = [k["value"] for k in apigw.get_api_keys(includeValues=True)["items"] if k["name"].startswith(PREFIX)]
    first, second = converged
    outputs = (ROOT / "outputs" / "local.json").read_text()
    for value in values:
        assert value not in first.stdout and value not in second.stdout and value not in outputs


def test_every_stage_is_behind_the_environments_web_acl(apis, aws):
    waf, gw, logs = aws("wafv2"), aws("apigateway"), aws("logs")
    [summary] = [a for a in waf.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == PREFIX + "-api"]
    acl = waf.get_web_acl(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])["WebACL"]
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert sorted(rules) == sorted(["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                                    "AWSManagedRulesAmazonIpReputationList", "rate-per-client-ip"])
    common = rules["AWSManagedRulesCommonRuleSet"]["Statement"]["ManagedRuleGroupStatement"]
    # A telemetry POST of up to compute_api_max_readings readings is larger than the rule set's 8 KB body limit.
    assert common["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert rules["rate-per-client-ip"]["Statement"]["RateBasedStatement"]["Limit"] == 20000
    assert rules["rate-per-client-ip"]["Action"] == {"Block": {}}
    assert all(r["VisibilityConfig"]["CloudWatchMetricsEnabled"] for r in acl["Rules"])
    [destination] = waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"][
        "LogDestinationConfigs"]
    assert destination.endswith(":log-group:aws-waf-logs-%s-api" % PREFIX)
    [group] = logs.describe_log_groups(logGroupNamePrefix="aws-waf-logs-%s-api" % PREFIX)["logGroups"]
    assert group["kmsKeyId"] and group["retentionInDays"] > 0
    for tenant, api in apis.items():
        stage = gw.get_stage(restApiId=api["id"], stageName="v1")
        assert stage.get("webAclArn") == acl["ARN"], tenant
        resource = "arn:aws:apigateway:%s::/restapis/%s/stages/v1" % (REGION, api["id"])
        assert waf.get_web_acl_for_resource(ResourceArn=resource)["WebACL"]["ARN"] == acl["ARN"]


def test_lambda_permission_for_the_stage_on_the_live_alias(apis, aws):
    lam = aws("lambda")
    for tenant, api in apis.items():
        policy = json.loads(lam.get_policy(FunctionName=fn_name(tenant), Qualifier="live")["Policy"])
        [stmt] = [s for s in policy["Statement"] if s["Principal"] == {"Service": "apigateway.amazonaws.com"}]
        assert stmt["Action"] == "lambda:InvokeFunction"
        assert stmt["Condition"]["ArnLike"]["AWS:SourceArn"] == (
            "arn:aws:execute-api:%s:%s:%s/v1/*/*" % (REGION, ACCOUNT, api["id"]))


def test_outputs_publish_ids_and_urls(converged, apis):
    outputs = json.loads((ROOT / "outputs" / "local.json").read_text())
    for tenant, api in apis.items():
        host = outputs["hosts"][tenant]
        assert host["compute_api_id"] == api["id"] and host["compute_api_url"].endswith("/v1")
        assert host["compute_function_alias_arn"].endswith(":%s:live" % fn_name(tenant))
        assert host["compute_api_key_id"]
    assert not outputs["hosts"]["platform-shared"].get("compute_function_arn")


def test_gateway_error_responses_carry_the_cors_origin(apis, aws):
    """API Gateway's own 4XX/5XX (missing key, throttling, validation) carry the single allowed origin (env=local
    has exactly one), so a browser can read them; never '*' nor a reflected origin."""
    apigw = aws("apigateway")
    origins = local_vars()["compute_cors_allow_origins"]
    assert len(origins) == 1, "env=local is expected to allow exactly one origin (group_vars/env_local.yml)"
    for tenant, api in apis.items():
        for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
            response = apigw.get_gateway_response(restApiId=api["id"], responseType=response_type)
            assert response["responseParameters"] == {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'%s'" % origins[0],
                "gatewayresponse.header.Vary": "'Origin'"}, (tenant, response_type)
        customised = {r["responseType"] for r in apigw.get_gateway_responses(restApiId=api["id"])["items"]
                      if r.get("defaultResponse") is False}
        assert customised == {"DEFAULT_4XX", "DEFAULT_5XX"}, tenant


# ---------------------------------------------------------------------------------------------- account


APIGW_LOGS_ROLE = "manufacturing-platform-apigateway-cloudwatch"
APIGW_LOGS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


def test_account_apigateway_logging_role(converged, aws):
    """The shared layer made the account's API Gateway log with an account-wide role trusted by API Gateway of
    this account only, with the AWS managed push-to-CloudWatch policy, tagged without the environment."""
    iam = aws("iam")
    role = iam.get_role(RoleName=APIGW_LOGS_ROLE)["Role"]
    assert aws("apigateway").get_account()["cloudwatchRoleArn"] == role["Arn"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    [statement] = trust["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    attached = iam.list_attached_role_policies(RoleName=APIGW_LOGS_ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [APIGW_LOGS_POLICY]
    assert iam.list_role_policies(RoleName=APIGW_LOGS_ROLE)["PolicyNames"] == []
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=APIGW_LOGS_ROLE)["Tags"]}
    assert "Environment" not in tags and "Tenant" not in tags and tags["Platform"] == "manufacturing"
    outputs = json.loads((ROOT / "outputs" / "local.json").read_text())
    assert outputs["hosts"]["platform-shared"]["compute_apigateway_cloudwatch_role_arn"] == role["Arn"]


def test_account_logging_role_configured_by_someone_else_is_kept(converged, aws, tmp_path):
    """Another role in the account's settings is kept and reported; replacing it needs replace_existing (previewed
    here in check mode, which changes nothing)."""
    apigw = aws("apigateway")
    ours = apigw.get_account()["cloudwatchRoleArn"]
    other = "arn:aws:iam::%s:role/landing-zone-apigateway-logs" % ACCOUNT
    playbook = tmp_path / "account.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "The account part of the compute role", "hosts": "platform_shared", "gather_facts": False,
        "module_defaults": {"group/manufacturing.platform.aws": {
            "endpoint_url": "{{ platform_aws_endpoint_url }}", "region": "{{ platform_aws_region }}",
            "access_key": "{{ platform_aws_access_key }}", "secret_key": "{{ platform_aws_secret_key }}"}},
        "tasks": [{"name": "Account", "ansible.builtin.include_role": {
            "name": "manufacturing.platform.compute", "tasks_from": "account.yml"}}]}]))
    task = "Point the account's API Gateway settings at the role (only when no role is configured there)"
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": other}])
    try:
        kept = run_playbook(str(playbook), "-e", "env=local")
        assert kept.rc == 0 and kept.changed == 0, kept.explain()
        [(_, _, result)] = [r for r in kept.task_results() if r[0].endswith(task)]
        assert result["status"] == "kept_other" and result["cloudwatch_role_arn"] == other
        assert any(other in w for w in result.get("warnings", [])), result
        assert apigw.get_account()["cloudwatchRoleArn"] == other
        preview = run_playbook(str(playbook), "-e", "env=local", "-e", "compute_apigateway_account_replace_role=true",
                               "--check", "--diff")
        assert preview.rc == 0, preview.explain()
        [(_, _, result)] = [r for r in preview.task_results() if r[0].endswith(task)]
        assert result["changed"] and result["status"] == "replaced" and result["cloudwatch_role_arn"] == ours
        assert apigw.get_account()["cloudwatchRoleArn"] == other
    finally:
        apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ours}])


# ---------------------------------------------------------------------------------------------- idempotence


def test_second_converge_changes_nothing_in_compute(converged):
    _, second = converged
    assert compute_changes(second) == []


def test_check_mode_makes_no_mutating_request(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert site_check_diff.mutating == []
    assert compute_changes(run) == []
    assert {e["service"] for e in site_check_diff.requests} >= {"lambda", "apigateway", "iam"}


def test_handler_source_change_publishes_exactly_one_new_version(converged, aws, tmp_path):
    lam = aws("lambda")
    tenant = "customer-456"

    def versions():
        return sorted(int(v["Version"]) for v in lam.list_versions_by_function(FunctionName=fn_name(tenant))["Versions"]
                      if v["Version"].isdigit())

    source = tmp_path / "alert_processor"
    shutil.copytree(ROOT / "lambdas" / "alert_processor", source, ignore=shutil.ignore_patterns("__pycache__"))
    handler = source / "alert_processor" / "handler.py"
    handler.write_text(handler.read_text() + "\n# changed by test_compute\n")
    before = versions()
    try:
        run = run_playbook("playbooks/tenants.yml", "-e", "env=local", "-e", "compute_source_dir=%s" % source,
                           "--limit", tenant)
        assert run.rc == 0, run.explain()
        after = versions()
        assert after == before + [before[-1] + 1]
        assert lam.get_alias(FunctionName=fn_name(tenant), Name="live")["FunctionVersion"] == str(after[-1])
        again = run_playbook("playbooks/tenants.yml", "-e", "env=local", "-e", "compute_source_dir=%s" % source,
                             "--limit", tenant)
        assert again.rc == 0, again.explain()
        assert versions() == after and compute_changes(again) == []
    finally:
        restore = run_playbook("playbooks/tenants.yml", "-e", "env=local", "--limit", tenant)
        assert restore.rc == 0, restore.explain()
    code = lam.get_function(FunctionName=fn_name(tenant))["Configuration"]["CodeSha256"]
    assert lam.get_function(FunctionName=fn_name(tenant), Qualifier="live")["Configuration"]["CodeSha256"] == code
