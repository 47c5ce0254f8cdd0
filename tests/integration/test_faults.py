"""Converging under injected AWS API faults (issue 13): the fault-injecting proxy of the local cloud
(localcloud/faults.py, started with `ctl.py up --services moto,faults`) in front of the emulator answers 20 % of
the requests with the service's own throttling error and 5 % with a 503, and the platform still converges to
exactly the state of a clean run.

- The proxy's errors are the ones real AWS services return, parsed by real boto3 clients of every protocol.
- The session's no-op converge of the whole reference fleet (conftest.converged, its second run) goes through the
  proxy: it succeeds with changed=0 and no mutating request reaching the emulator.
- The session's onboarding of a new tenant (conftest.onboarded, tests/support/onboarding.py) converges it from nothing
  through the proxy: a clean run afterwards finds nothing to change (so the state is exactly a clean run's); it is
  destroyed again by test_network, which checks that the reference network is as before.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from support.onboarding import NEW_CIDR, NEW_TENANT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxy(fault_proxy):
    """The session's fault proxy (conftest.fault_proxy); left with no faults after this module."""
    yield fault_proxy
    fault_proxy.control(throttle=0, unavailable=0, services=[], reset=True)


# ------------------------------------------------------------------------------------------- the proxy itself

CALLS = {
    # service: (call, expected throttling code, expected HTTP status)
    "ec2": (lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
    "iam": (lambda c: c.list_roles(), "Throttling", 400),
    "sts": (lambda c: c.get_caller_identity(), "Throttling", 400),
    "rds": (lambda c: c.describe_db_instances(), "Throttling", 400),
    "sns": (lambda c: c.list_topics(), "Throttling", 400),
    "cloudwatch": (lambda c: c.describe_alarms(), "Throttling", 400),
    "logs": (lambda c: c.describe_log_groups(), "ThrottlingException", 400),
    "kms": (lambda c: c.list_keys(), "ThrottlingException", 400),
    "secretsmanager": (lambda c: c.list_secrets(), "ThrottlingException", 400),
    "budgets": (lambda c: c.describe_budgets(AccountId="123456789012"), "ThrottlingException", 400),
    "lambda": (lambda c: c.list_functions(), "TooManyRequestsException", 429),
    "apigateway": (lambda c: c.get_rest_apis(), "TooManyRequestsException", 429),
    "kafka": (lambda c: c.list_clusters_v2(), "TooManyRequestsException", 429),
    "s3": (lambda c: c.list_buckets(), "SlowDown", 503),
}


def _error(client, call):
    try:
        call(client)
    except client.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


@pytest.fixture(scope="module")
def clients(proxy, endpoints):
    cfg = endpoints["aws"]
    session = boto3.session.Session(aws_access_key_id=cfg["access_key"], aws_secret_access_key=cfg["secret_key"],
                                    region_name=cfg["region"])
    once = Config(retries={"total_max_attempts": 1})
    return {name: session.client(name, endpoint_url=proxy.url, config=once) for name in CALLS}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_proxy_answers_each_protocol_with_the_services_own_errors(proxy, clients, service):
    call, throttle_code, throttle_status = CALLS[service]
    client = clients[service]
    proxy.control(throttle=1.0, unavailable=0, reset=True)
    assert _error(client, call) == (throttle_code, throttle_status)
    proxy.control(throttle=0, unavailable=1.0)
    code, status = _error(client, call)
    assert status == 503 and code in ("Unavailable", "ServiceUnavailable", "ServiceUnavailableException"), code
    proxy.control(throttle=0, unavailable=0)
    assert _error(client, call) is None  # forwarded to the emulator
    stats = proxy.control()
    assert (stats["requests"], stats["forwarded"], stats["injected"]) == (3, 1, 2)
    assert stats["injected_by_code"] == {throttle_code: 1, code: 1}


def test_proxy_faults_are_seeded_and_can_be_aimed(proxy, clients):
    def pattern():
        proxy.control(throttle=0.5, unavailable=0, seed=7, reset=True)
        return [_error(clients["sts"], CALLS["sts"][0]) is None for _ in range(12)]

    first = pattern()
    assert first == pattern() and 0 < sum(first) < 12
    proxy.control(throttle=1.0, unavailable=0, services=["ec2"], reset=True)
    assert _error(clients["sts"], CALLS["sts"][0]) is None
    assert _error(clients["ec2"], CALLS["ec2"][0]) == ("RequestLimitExceeded", 503)
    proxy.control(throttle=0, services=[], reset=True)


def test_proxy_throttles_the_first_request_of_every_operation_when_asked(proxy, clients):
    """first_of_each: the first request of each (service, action) is throttled whatever the rate, the next ones
    follow the rate (0 here); a reset forgets the operations seen."""
    proxy.control(throttle=0, unavailable=0, first_of_each=True, reset=True)
    try:
        for service in ("sts", "ec2"):
            call, code, status = CALLS[service]
            assert _error(clients[service], call) == (code, status)
            assert _error(clients[service], call) is None
        stats = proxy.control()
        assert (stats["requests"], stats["injected"], stats["first_of_each"]) == (4, 2, True)
        proxy.control(reset=True)
        assert _error(clients["sts"], CALLS["sts"][0]) == (CALLS["sts"][1], CALLS["sts"][2])
    finally:
        proxy.control(first_of_each=False, reset=True)


# ------------------------------------------------------------------------------------------- converges under faults


def test_noop_converge_under_faults_changes_nothing(converged):
    """The session's second converge of the whole reference fleet (tests/integration/conftest.py) is the no-op run
    under 20 % throttling + 5 % 503 on every AWS request and a throttle on the first request of every operation: it
    succeeded, reported changed=0, no mutating request reached the emulator, and the faults hit every service the
    platform calls."""
    _first, second = converged
    stats = second.faults
    assert "platform_aws_endpoint_url=" in " ".join(second.args) and (stats["throttle"], stats["unavailable"]) == (0, 0)
    assert stats["first_of_each"] is False  # the session's later runs see the plain rates again
    assert second.rc == 0, second.explain()
    assert second.changed == 0, second.changed_tasks()
    assert second.mutating == []
    assert stats["injected"] >= 0.15 * stats["requests"] > 50, stats
    services = {call.split(":")[0] for call in stats["injected_by_call"]}
    assert {"ec2", "iam", "logs", "rds", "kafka", "lambda", "apigateway", "s3", "sns", "secretsmanager"} <= services


@pytest.mark.runs_last
def test_new_tenant_converges_under_faults_to_the_clean_state(onboarded, aws):
    """The session's onboarding of a fourth tenant (conftest.onboarded) converged it from nothing through the proxy
    (20 % throttling + 5 % 503): it succeeded, and the clean run after it had nothing to do and sent no mutating
    request, so the faulted converge left exactly a clean run's state."""
    faulted, stats, clean = onboarded.converge, onboarded.faults, onboarded.again
    assert faulted.rc == 0, faulted.explain()
    assert "platform_aws_endpoint_url=" in " ".join(faulted.args) and faulted.changed > 0
    assert stats["injected"] >= 0.15 * stats["requests"] > 10, stats
    assert clean.rc == 0, clean.explain()
    assert clean.changed == 0, clean.changed_tasks()
    assert onboarded.again_mutating == []
    vpcs = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Tenant", "Values": [NEW_TENANT]}])["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == [NEW_CIDR]
    assert aws("lambda").get_function(FunctionName="mfg-local-%s-alert-processor" % NEW_TENANT)
