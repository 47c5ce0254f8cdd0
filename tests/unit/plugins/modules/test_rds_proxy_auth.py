"""rds_proxy_auth module. moto 5.2.5 does not implement RDS ``ModifyDBProxy`` (500, see docs/emulator-gaps.md), so
registering tenant secrets in a proxy's auth list is tested here with botocore's Stubber on a real
``boto3.client("rds")`` (request and response shapes validated against the installed service model)."""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.stub import Stubber

from ansible_collections.manufacturing.platform.plugins.modules import rds_proxy_auth

AWS = {"region": "us-east-1", "access_key": "testing", "secret_key": "testing"}
PROXY = "mfg-prod-shared-postgres"
MASTER = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1111-AbCdEf"
T456 = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mfg-prod/customer-456/postgres-AbCdEf"
T789 = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mfg-prod/customer-789/postgres-GhIjKl"


def entry(arn, iam="REQUIRED", client_auth="POSTGRES_SCRAM_SHA_256"):
    return {"AuthScheme": "SECRETS", "SecretArn": arn, "IAMAuth": iam, "ClientPasswordAuthType": client_auth}


def described(*entries):
    # The response carries fields the request does not take (UserName, Description): the module drops them.
    auth = [dict(e, UserName="u", Description="") for e in entries]
    return {"DBProxies": [{"DBProxyName": PROXY, "Status": "available", "EngineFamily": "POSTGRESQL", "Auth": auth}]}


@pytest.fixture
def rds(monkeypatch):
    client = boto3.client("rds", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")

    def fake_client(self, service, retry_decorator=None, **kwargs):
        assert service == "rds"
        return RetryingBotoClientWrapper(client, retry_decorator)

    monkeypatch.setattr(rds_proxy_auth.AnsibleAWSModule, "client", fake_client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def run(args, capsys, check_mode=False, diff=False):
    with (
        patch_module_args(dict(AWS, proxy_name=PROXY, **args, _ansible_check_mode=check_mode, _ansible_diff=diff)),
        pytest.raises(SystemExit),
    ):
        rds_proxy_auth.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_emulator_gap_modify_db_proxy_adds_the_tenant_secret_and_keeps_the_others(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER), entry(T789)), {"DBProxyName": PROXY})
    rds.add_response("modify_db_proxy", {}, {"DBProxyName": PROXY, "Auth": [entry(MASTER), entry(T789), entry(T456)]})
    result = run({"secret_arns": [T456]}, capsys, diff=True)
    assert result["changed"] and result["added"] == [T456] and result["removed"] == []
    assert result["auth_secret_arns"] == sorted([MASTER, T456, T789])
    assert T456 not in result["diff"]["before"]["auth_secret_arns"]


def test_emulator_gap_modify_db_proxy_rerun_is_a_no_op(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER), entry(T456)), {"DBProxyName": PROXY})
    result = run({"secret_arns": [T456]}, capsys)
    assert not result["changed"] and result["added"] == []


def test_emulator_gap_modify_db_proxy_corrects_the_settings_of_a_registered_secret(rds, capsys):
    rds.add_response(
        "describe_db_proxies", described(entry(MASTER), entry(T456, iam="DISABLED")), {"DBProxyName": PROXY}
    )
    rds.add_response("modify_db_proxy", {}, {"DBProxyName": PROXY, "Auth": [entry(MASTER), entry(T456)]})
    result = run({"secret_arns": [T456]}, capsys)
    assert result["changed"] and result["added"] == [T456]


def test_emulator_gap_modify_db_proxy_check_mode_reads_only(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER)), {"DBProxyName": PROXY})
    result = run({"secret_arns": [T456, T789]}, capsys, check_mode=True)
    assert result["changed"] and result["added"] == [T456, T789]  # no modify_db_proxy response queued


def test_emulator_gap_modify_db_proxy_removes_only_the_given_secret(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER), entry(T456), entry(T789)), {"DBProxyName": PROXY})
    rds.add_response("modify_db_proxy", {}, {"DBProxyName": PROXY, "Auth": [entry(MASTER), entry(T789)]})
    result = run({"secret_arns": [T456], "state": "absent"}, capsys)
    assert result["changed"] and result["removed"] == [T456]
    assert result["auth_secret_arns"] == sorted([MASTER, T789])


def test_emulator_gap_modify_db_proxy_absent_rerun_is_a_no_op(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER)), {"DBProxyName": PROXY})
    assert not run({"secret_arns": [T456], "state": "absent"}, capsys)["changed"]


def test_emulator_gap_modify_db_proxy_never_empties_the_list(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(T456)), {"DBProxyName": PROXY})
    result = run({"secret_arns": [T456], "state": "absent"}, capsys)
    assert result.get("failed") and "without any secret" in result["msg"]


def test_missing_proxy_fails_or_is_ignored(rds, capsys):
    for missing, failed in (("fail", True), ("ignore", False)):
        rds.add_client_error("describe_db_proxies", "DBProxyNotFoundFault", http_status_code=404)
        result = run({"secret_arns": [T456], "missing_proxy": missing}, capsys)
        assert bool(result.get("failed")) is failed
        assert not result.get("changed", False)


def test_emulator_gap_modify_db_proxy_retries_throttling(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER)), {"DBProxyName": PROXY})
    rds.add_client_error("modify_db_proxy", "Throttling", http_status_code=400)
    rds.add_response("modify_db_proxy", {}, {"DBProxyName": PROXY, "Auth": [entry(MASTER), entry(T456)]})
    assert run({"secret_arns": [T456]}, capsys)["changed"]


def test_emulator_gap_modify_db_proxy_removes_a_secret_named_without_its_arn_suffix(rds, capsys):
    rds.add_response("describe_db_proxies", described(entry(MASTER), entry(T456), entry(T789)), {"DBProxyName": PROXY})
    rds.add_response("modify_db_proxy", {}, {"DBProxyName": PROXY, "Auth": [entry(MASTER), entry(T789)]})
    result = run({"secret_arns": ["mfg-prod/customer-456/postgres"], "state": "absent"}, capsys)
    assert result["removed"] == [T456]


def test_a_name_never_matches_a_longer_secret_name():
    assert rds_proxy_auth.refers_to(T456, "mfg-prod/customer-456/postgres")
    assert not rds_proxy_auth.refers_to(T456, "mfg-prod/customer-45")
    assert not rds_proxy_auth.refers_to(T456, "mfg-prod/customer-456/postgres-AbCdEf-")
