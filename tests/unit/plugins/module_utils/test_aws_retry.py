"""The collection's AWS retry policy (plugins/module_utils/aws_retry.py).

Unit tests with botocore's Stubber on real boto3 clients (request and response shapes checked against the
installed service models). The Stubber answers before botocore's own retry handler runs, so these tests see only
the collection's outer layer; the backoff sleeps are recorded instead of slept.
"""

from __future__ import annotations

import boto3
import botocore.config
import botocore.exceptions
import pytest
from ansible_collections.amazon.aws.plugins.module_utils import botocore as aws_botocore
from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from botocore.stub import Stubber

from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

CREDS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

# (service, operation, parameters, response) of one read per service the collection calls.
READS = {
    "ec2": ("describe_vpcs", {}, {"Vpcs": []}),
    "s3": ("get_bucket_versioning", {"Bucket": "b"}, {"Status": "Enabled"}),
    "rds": ("describe_db_instances", {}, {"DBInstances": []}),
    "lambda": ("get_function", {"FunctionName": "f"}, {"Configuration": {"FunctionName": "f"}}),
    "apigateway": ("get_account", {}, {"cloudwatchRoleArn": ""}),
    "sns": ("list_topics", {}, {"Topics": []}),
    "logs": ("describe_log_groups", {}, {"logGroups": []}),
    "cloudwatch": ("describe_alarms", {}, {"MetricAlarms": []}),
    "kafka": ("list_clusters_v2", {}, {"ClusterInfoList": []}),
    "secretsmanager": ("describe_secret", {"SecretId": "s"}, {"Name": "s"}),
    "budgets": ("describe_budgets", {"AccountId": "123456789012"}, {"Budgets": []}),
    "ce": ("get_anomaly_monitors", {}, {"AnomalyMonitors": []}),
    "service-quotas": ("get_service_quota", {"ServiceCode": "vpc", "QuotaCode": "L-1"}, {"Quota": {"Value": 5.0}}),
    "kms": ("describe_key", {"KeyId": "alias/k"}, {"KeyMetadata": {"KeyId": "k"}}),
    "sts": ("get_caller_identity", {}, {"Account": "123456789012"}),
}
# The throttling error each service answers with (AWS documentation of each API).
THROTTLES = {
    "ec2": ("RequestLimitExceeded", 503),
    "s3": ("SlowDown", 503),
    "rds": ("Throttling", 400),
    "lambda": ("TooManyRequestsException", 429),
    "apigateway": ("TooManyRequestsException", 429),
    "sns": ("Throttled", 429),  # SNS ThrottledException: its code is not in any list, its 429 status is
    "logs": ("ThrottlingException", 400),
    "cloudwatch": ("Throttling", 400),
    "kafka": ("TooManyRequestsException", 429),
    "secretsmanager": ("ThrottlingException", 400),
    "budgets": ("ThrottlingException", 400),
    "ce": ("LimitExceededException", 429),  # Cost Explorer's throttle (cost_anomaly_monitor also lists the code)
    "service-quotas": ("TooManyRequestsException", 400),
    "kms": ("ThrottlingException", 400),
    "sts": ("Throttling", 400),
}


@pytest.fixture
def sleeps(monkeypatch):
    recorded = []
    monkeypatch.setattr(cloud.time, "sleep", recorded.append)
    return recorded


def stubbed(service, decorator=None):
    client = boto3.client(service, **CREDS)
    return client, RetryingBotoClientWrapper(client, decorator or aws_retry.retry_decorator()), Stubber(client)


@pytest.mark.parametrize("service", sorted(READS))
def test_each_services_throttling_error_is_retried(service, sleeps):
    operation, params, response = READS[service]
    code, status = THROTTLES[service]
    _client, wrapped, stub = stubbed(service)
    with stub:
        stub.add_client_error(operation, code, http_status_code=status, expected_params=params)
        stub.add_client_error(operation, code, http_status_code=status, expected_params=params)
        stub.add_response(operation, response, params)
        assert getattr(wrapped, operation)(aws_retry=True, **params) == response
        stub.assert_no_pending_responses()
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", aws_retry.THROTTLING_CODES)
def test_every_throttling_code_is_retried_whatever_its_status(code, sleeps):
    _client, wrapped, stub = stubbed("ec2")
    with stub:
        stub.add_client_error("describe_vpcs", code, http_status_code=400)
        stub.add_response("describe_vpcs", {"Vpcs": []}, {})
        assert wrapped.describe_vpcs(aws_retry=True) == {"Vpcs": []}
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ServiceUnavailable", 503),
        ("InternalError", 500),
        ("InternalFailure", 500),
        ("InternalServerErrorException", 500),
        ("ServiceUnavailableException", 503),
        ("503", 503),  # a body botocore cannot parse (a proxy's error page): the code is the status
        ("500", 500),
        ("BadGateway", 502),
        ("GatewayTimeout", 504),
        ("RequestTimeout", 400),
    ],
)
def test_server_faults_are_retried(code, status, sleeps):
    _client, wrapped, stub = stubbed("s3")
    with stub:
        stub.add_client_error("head_bucket", code, http_status_code=status, expected_params={"Bucket": "b"})
        stub.add_response("head_bucket", {}, {"Bucket": "b"})
        wrapped.head_bucket(aws_retry=True, Bucket="b")
        stub.assert_no_pending_responses()
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationError", 400),
        ("ValidationException", 400),
        ("InvalidParameterValue", 400),
        ("InvalidParameterCombination", 400),
        ("MalformedPolicyDocument", 400),
        ("AccessDenied", 403),
        ("UnauthorizedOperation", 403),
        ("InvalidVpcID.NotFound", 400),
        ("ResourceNotFoundException", 404),
        ("LimitExceededException", 400),  # a hard quota (Lambda, KMS, logs): retrying cannot help
        ("ConflictException", 409),
    ],
)
def test_a_client_error_fails_at_once(code, status, sleeps):
    _client, wrapped, stub = stubbed("ec2")
    with stub:
        stub.add_client_error("describe_vpcs", code, http_status_code=status)
        stub.add_response("describe_vpcs", {"Vpcs": []}, {})  # would be answered if the call were retried
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            wrapped.describe_vpcs(aws_retry=True)
    assert raised.value.response["Error"]["Code"] == code
    assert sleeps == []


def test_a_caller_can_add_its_own_transient_codes(sleeps):
    _client, wrapped, stub = stubbed("lambda", aws_retry.retry_decorator(extra_codes=["ResourceConflictException"]))
    with stub:
        stub.add_client_error("get_function", "ResourceConflictException", http_status_code=409)
        stub.add_response("get_function", READS["lambda"][2], {"FunctionName": "f"})
        assert wrapped.get_function(aws_retry=True, FunctionName="f") == READS["lambda"][2]
    assert len(sleeps) == 1


def test_it_gives_up_after_the_configured_attempts_with_capped_jittered_sleeps(sleeps):
    _client, wrapped, stub = stubbed("ec2")
    with stub:
        for _attempt in range(aws_retry.RETRIES):
            stub.add_client_error("describe_vpcs", "RequestLimitExceeded", http_status_code=503)
        with pytest.raises(botocore.exceptions.ClientError):
            wrapped.describe_vpcs(aws_retry=True)
        stub.assert_no_pending_responses()
    assert len(sleeps) == aws_retry.RETRIES - 1
    assert all(0 <= s <= aws_retry.MAX_DELAY for s in sleeps)


def test_a_call_without_aws_retry_is_not_retried(sleeps):
    _client, wrapped, stub = stubbed("ec2")
    with stub:
        stub.add_client_error("describe_vpcs", "RequestLimitExceeded", http_status_code=503)
        with pytest.raises(botocore.exceptions.ClientError):
            wrapped.describe_vpcs()
    assert sleeps == []


def sg_page(n, token=None):
    page = {"SecurityGroups": [{"GroupId": "sg-%d" % n, "GroupName": "g%d" % n}]}
    if token:
        page["NextToken"] = token
    return page


def test_paginate_retries_the_faulted_page_only(sleeps):
    _client, wrapped, stub = stubbed("ec2")
    flt = [{"Name": "vpc-id", "Values": ["vpc-1"]}]
    with stub:
        stub.add_response("describe_security_groups", sg_page(1, "t2"), {"Filters": flt})
        stub.add_client_error("describe_security_groups", "RequestLimitExceeded", http_status_code=503,
                              expected_params={"Filters": flt, "NextToken": "t2"})
        stub.add_client_error("describe_security_groups", "503", http_status_code=503,
                              expected_params={"Filters": flt, "NextToken": "t2"})
        # the retried request carries page 2's token: the read is not restarted from page 1
        stub.add_response("describe_security_groups", sg_page(2, "t3"), {"Filters": flt, "NextToken": "t2"})
        stub.add_response("describe_security_groups", sg_page(3), {"Filters": flt, "NextToken": "t3"})
        result = aws_retry.paginate(wrapped, "describe_security_groups", Filters=flt)
        stub.assert_no_pending_responses()
    assert [g["GroupId"] for g in result["SecurityGroups"]] == ["sg-1", "sg-2", "sg-3"]
    assert len(sleeps) == 2


def test_paginate_pages_retries_mid_pagination_on_a_plain_client(sleeps):
    client, _wrapped, stub = stubbed("s3")
    first = {"Versions": [{"Key": "a", "VersionId": "1"}], "IsTruncated": True, "NextKeyMarker": "a",
             "NextVersionIdMarker": "1"}
    second = {"Versions": [{"Key": "b", "VersionId": "2"}], "IsTruncated": False}
    with stub:
        stub.add_response("list_object_versions", first, {"Bucket": "b"})
        stub.add_client_error("list_object_versions", "SlowDown", http_status_code=503,
                              expected_params={"Bucket": "b", "KeyMarker": "a", "VersionIdMarker": "1"})
        stub.add_response("list_object_versions", second, {"Bucket": "b", "KeyMarker": "a", "VersionIdMarker": "1"})
        pages = list(aws_retry.paginate_pages(client, "list_object_versions", Bucket="b"))
        stub.assert_no_pending_responses()
    assert [v["Key"] for p in pages for v in p["Versions"]] == ["a", "b"]
    assert len(sleeps) == 1


def test_paginate_fails_at_once_on_a_validation_error_mid_pagination(sleeps):
    _client, wrapped, stub = stubbed("ec2")
    with stub:
        stub.add_response("describe_security_groups", sg_page(1, "t2"), {})
        stub.add_client_error("describe_security_groups", "InvalidParameterValue", http_status_code=400)
        with pytest.raises(botocore.exceptions.ClientError):
            aws_retry.paginate(wrapped, "describe_security_groups")
    assert sleeps == []


def test_paginate_uses_the_plain_policy_when_given_one_not_the_wrappers_extra_codes(sleeps):
    extra = aws_retry.retry_decorator(extra_codes=["InvalidGroup.NotFound"])
    _client, wrapped, stub = stubbed("ec2", extra)
    with stub:
        stub.add_client_error("describe_security_groups", "InvalidGroup.NotFound", http_status_code=400)
        with pytest.raises(botocore.exceptions.ClientError):
            aws_retry.paginate(wrapped, "describe_security_groups", aws_retry.retry_decorator())
    assert sleeps == []


def test_a_waiter_survives_a_throttled_poll_and_still_sees_the_errors_it_expects(sleeps):
    _client, wrapped, stub = stubbed("ec2")
    params = {"GroupIds": ["sg-1"]}
    with stub:
        # security_group_exists treats InvalidGroup.NotFound as "poll again": it must reach the waiter's acceptors
        # (one poll each), not the retry policy
        stub.add_client_error("describe_security_groups", "InvalidGroup.NotFound", http_status_code=400,
                              expected_params=params)
        stub.add_client_error("describe_security_groups", "RequestLimitExceeded", http_status_code=503,
                              expected_params=params)
        stub.add_response("describe_security_groups", sg_page(1), params)
        aws_retry.retrying_waiter(wrapped, "security_group_exists").wait(WaiterConfig={"Delay": 0}, **params)
        stub.assert_no_pending_responses()
    assert sleeps.count(0) == 1  # the waiter's own delay after the NotFound poll
    assert len(sleeps) == 2  # ... and one backoff for the throttled poll


def test_a_plain_waiter_stops_at_a_throttled_poll():
    """What retrying_waiter fixes: botocore's waiter ends on an error its acceptors do not expect."""
    client, _wrapped, stub = stubbed("ec2")
    with stub:
        stub.add_client_error("describe_security_groups", "RequestLimitExceeded", http_status_code=503)
        with pytest.raises(botocore.exceptions.WaiterError):
            client.get_waiter("security_group_exists").wait(GroupIds=["sg-1"], WaiterConfig={"Delay": 0})


class FakeModule:
    def __init__(self):
        self.calls = []

    def client(self, service, retry_decorator=None, **kwargs):
        self.calls.append((service, retry_decorator, kwargs))
        return RetryingBotoClientWrapper(boto3.client(service, **CREDS, **kwargs), retry_decorator)


def test_client_sets_botocores_own_retries_explicitly(monkeypatch):
    # the play-wide AWS_MAX_ATTEMPTS (for the stock modules) must not multiply with the outer layer
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    module = FakeModule()
    client = aws_retry.client(module, "ec2")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": aws_retry.BOTOCORE_TOTAL_ATTEMPTS}
    assert module.calls[0][1] is not None


def test_client_merges_a_callers_config_and_attempts():
    module = FakeModule()
    own = botocore.config.Config(connect_timeout=7)
    client = aws_retry.client(module, "service-quotas", retries=1, botocore_attempts=1, config=own)
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert client.meta.config.connect_timeout == 7


def test_stock_modules_clients_take_the_retry_settings_from_the_environment(monkeypatch):
    """amazon.aws builds every client with a Config that sets only the user agent: the plays' environment
    (AWS_RETRY_MODE / AWS_MAX_ATTEMPTS) reaches botocore's retry handler of the stock modules."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "10")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    client = aws_botocore._boto3_conn(conn_type="client", resource="logs", region="us-east-1",
                                      aws_access_key_id="testing", aws_secret_access_key="testing")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 10}


PLUGINS = __import__("pathlib").Path(__file__).resolve().parents[4] / "plugins"


def collection_sources():
    for path in sorted((PLUGINS / "modules").glob("*.py")) + sorted((PLUGINS / "module_utils").glob("*.py")):
        if path.name != "aws_retry.py":
            yield path.relative_to(PLUGINS.parent), path.read_text()


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        (r"\.get_paginator\(", "paginators go through aws_retry.retrying_paginator / paginate"),
        (r"\.get_waiter\(", "waiters go through aws_retry.retrying_waiter"),
        (r"AWSRetry\.", "the retry decorator is aws_retry.retry_decorator (one policy)"),
        (r"module\.client\(\s*\"[^\"]+\"\s*\)", "clients are built by aws_retry.client (both retry layers)"),
    ],
)
def test_no_module_bypasses_the_retry_policy(pattern, why):
    import re

    offenders = [
        "%s:%d" % (path, text[: m.start()].count("\n") + 1)
        for path, text in collection_sources()
        for m in re.finditer(pattern, text)
        if not text[text.rfind("\n", 0, m.start()) + 1 : m.start()].lstrip().startswith("#")
    ]
    assert offenders == [], why


# ------------------------------------------------------------------------------------------------ propagation


def _error(code, message):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "CreateDBInstance")


class _Calls:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.kwargs = []

    def __call__(self, **kwargs):
        self.kwargs.append(kwargs)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


PROPAGATING = _error("InvalidParameterValue", "IAM role ARN value is invalid or does not include the required "
                                              "permissions for: ENHANCED_MONITORING")


def test_call_while_propagating_retries_the_propagation_message_only():
    waits = []
    method = _Calls(PROPAGATING, PROPAGATING, {"ok": True})
    result = aws_retry.call_while_propagating(method, "InvalidParameterValue", "enhanced_monitoring",
                                              sleep=waits.append, DBInstanceIdentifier="db")
    assert result == {"ok": True} and len(method.kwargs) == 3 and len(waits) == 2
    assert all(k == {"aws_retry": True, "DBInstanceIdentifier": "db"} for k in method.kwargs)
    assert waits[0] <= 2 and waits[1] <= 4  # full jitter under delay * 2 ** n


def test_call_while_propagating_raises_another_message_of_the_same_code_at_once():
    method = _Calls(_error("InvalidParameterValue", "Invalid DB instance class"))
    with pytest.raises(botocore.exceptions.ClientError, match="instance class"):
        aws_retry.call_while_propagating(method, "InvalidParameterValue", "ENHANCED_MONITORING", sleep=pytest.fail)
    assert len(method.kwargs) == 1


def test_call_while_propagating_gives_up_after_its_attempts():
    waits = []
    method = _Calls(*[PROPAGATING] * 3)
    with pytest.raises(botocore.exceptions.ClientError, match="ENHANCED_MONITORING"):
        aws_retry.call_while_propagating(method, "InvalidParameterValue", "ENHANCED_MONITORING", attempts=3,
                                         sleep=waits.append)
    assert len(method.kwargs) == 3 and len(waits) == 2 and all(w <= 15 for w in waits)
