"""Tenant isolation proven by requests, on a second emulator that enforces IAM.

moto authorises requests only after ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have been served (counted over
every authorised request). The instance starts with a count large enough to converge the storage role and to
create the tenant principals with the emulator's dummy credentials; the fixture then turns enforcement on
through moto's ``/moto-api/reset-auth`` (same setting, count reset to 0). From then on every request is signed by
a tenant's own access key and judged by the tenant's storage policy (the IAM policy the role creates).

Emulator limits (docs/emulator-gaps.md): moto ignores policy conditions (except a few StringEquals keys), so
(1) the prefix condition of ListBucket is not enforced: that case is an expected failure here, covered by the
policy's unit and read-back tests; (2) a bucket policy's conditional Deny statements deny every object request:
the fixture removes the bucket policies on this instance, so the requests prove the tenant's IAM policy; and
(3) there is no KMS authorisation of S3's use of the key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from support.playbook import ROOT, load_fleet, run_playbook, write_inventory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ACCOUNT = "123456789012"
SHARED_BUCKET = "mfg-local-data-%s" % ACCOUNT
DEDICATED_BUCKET = "mfg-local-customer-123-data-%s" % ACCOUNT
STORAGE_PLAYBOOK = ROOT / "roles" / "storage" / "molecule" / "default" / "converge.yml"
TENANTS = ("customer-123", "customer-456", "customer-789")
KMS = {"ServerSideEncryption": "aws:kms"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory):
    """Second moto instance: converge storage, create one IAM user per tenant, then enforce IAM."""
    state = tmp_path_factory.mktemp("iam-moto")
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1000000", MOTO_IAM_LOAD_MANAGED_POLICIES="false")
    with open(state / "moto.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "localcloud" / "moto_server.py"), "--host", "127.0.0.1",
                                 "--port", str(port), "--request-log", str(state / "requests.jsonl")],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = "http://127.0.0.1:%d" % port
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)  # noqa: S310 - local emulator
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("the IAM-enforcing emulator did not start: %s" % (state / "moto.log").read_text())
                time.sleep(0.2)

        inventory = write_inventory(state / "inventory", load_fleet())
        run = run_playbook(STORAGE_PLAYBOOK, "-i", str(inventory), "-e", "env=local",
                           env={"LOCALCLOUD_MOTO_PORT": str(port)})
        assert run.rc == 0, run.explain()

        admin = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                      region_name="us-east-1")
        iam = admin.client("iam", endpoint_url=endpoint)
        s3 = admin.client("s3", endpoint_url=endpoint)
        credentials = {}
        for tenant in TENANTS:
            user = "app-%s" % tenant
            iam.create_user(UserName=user, Tags=[{"Key": "Tenant", "Value": tenant}])
            iam.attach_user_policy(UserName=user,
                                   PolicyArn="arn:aws:iam::%s:policy/mfg-local-%s-storage" % (ACCOUNT, tenant))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            credentials[tenant] = (key["AccessKeyId"], key["SecretAccessKey"])
        # moto applies a bucket policy's Deny statements to object requests WITHOUT their conditions
        # (aws:SecureTransport, s3:x-amz-server-side-encryption, aws:PrincipalTag ...), so on the emulator they
        # deny every object request. Remove them here: what is proven by requests is the tenant's IAM policy.
        for bucket in (SHARED_BUCKET, DEDICATED_BUCKET):
            s3.delete_bucket_policy(Bucket=bucket)
        # Data of every tenant, written before enforcement.
        for tenant in ("customer-456", "customer-789"):
            s3.put_object(Bucket=SHARED_BUCKET, Key="tenants/%s/seed.json" % tenant, Body=b"{}", **KMS)
        s3.put_object(Bucket=DEDICATED_BUCKET, Key="tenants/customer-123/seed.json", Body=b"{}", **KMS)

        request = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",  # noqa: S310
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 - local emulator

        def client(tenant):
            key_id, secret = credentials[tenant]
            session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                            region_name="us-east-1")
            return session.client("s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))

        yield client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def denied(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == "AccessDenied", info.value.response


def test_enforcement_is_on(enforcing):
    s3 = enforcing("customer-456")
    denied(s3.list_buckets)  # not in any tenant policy


@pytest.mark.parametrize("tenant, other", [("customer-456", "customer-789"), ("customer-789", "customer-456")])
def test_shared_tier_tenant_reads_and_writes_its_own_prefix(enforcing, tenant, other):
    s3 = enforcing(tenant)
    key = "tenants/%s/telemetry/2026/11/25/m1.json" % tenant
    s3.put_object(Bucket=SHARED_BUCKET, Key=key, Body=b'{"t": 1}', **KMS)
    assert s3.get_object(Bucket=SHARED_BUCKET, Key=key)["Body"].read() == b'{"t": 1}'
    assert s3.get_object(Bucket=SHARED_BUCKET, Key="tenants/%s/seed.json" % tenant)["Body"].read() == b"{}"
    listed = s3.list_objects_v2(Bucket=SHARED_BUCKET, Prefix="tenants/%s/" % tenant)
    assert key in [o["Key"] for o in listed.get("Contents", [])]
    s3.delete_object(Bucket=SHARED_BUCKET, Key=key)


@pytest.mark.parametrize("tenant, other", [("customer-456", "customer-789"), ("customer-789", "customer-456")])
def test_shared_tier_tenant_is_denied_other_tenants_prefix(enforcing, tenant, other):
    s3 = enforcing(tenant)
    denied(s3.get_object, Bucket=SHARED_BUCKET, Key="tenants/%s/seed.json" % other)
    denied(s3.put_object, Bucket=SHARED_BUCKET, Key="tenants/%s/evil.json" % other, Body=b"x", **KMS)
    denied(s3.delete_object, Bucket=SHARED_BUCKET, Key="tenants/%s/seed.json" % other)
    denied(s3.put_object, Bucket=SHARED_BUCKET, Key="outside-any-prefix.json", Body=b"x", **KMS)


@pytest.mark.xfail(strict=True, reason="moto ignores the s3:prefix condition of ListBucket (emulator gap); on AWS "
                                       "the tenant policy only allows listing tenants/<own id>/ and the bucket "
                                       "policy denies tagged principals listing other prefixes")
def test_shared_tier_tenant_cannot_list_other_tenants_prefix(enforcing):
    denied(enforcing("customer-456").list_objects_v2, Bucket=SHARED_BUCKET, Prefix="tenants/customer-789/")


def test_dedicated_tenant_uses_its_own_bucket_only(enforcing):
    s3 = enforcing("customer-123")
    key = "tenants/customer-123/telemetry/m1.json"
    s3.put_object(Bucket=DEDICATED_BUCKET, Key=key, Body=b"1", **KMS)
    assert s3.get_object(Bucket=DEDICATED_BUCKET, Key=key)["Body"].read() == b"1"
    s3.list_objects_v2(Bucket=DEDICATED_BUCKET)
    denied(s3.get_object, Bucket=SHARED_BUCKET, Key="tenants/customer-456/seed.json")
    denied(s3.put_object, Bucket=SHARED_BUCKET, Key="tenants/customer-123/x.json", Body=b"x", **KMS)
    denied(s3.list_objects_v2, Bucket=SHARED_BUCKET, Prefix="tenants/customer-456/")


def test_shared_tier_tenant_is_denied_the_dedicated_bucket(enforcing):
    s3 = enforcing("customer-456")
    denied(s3.get_object, Bucket=DEDICATED_BUCKET, Key="tenants/customer-123/seed.json")
    denied(s3.put_object, Bucket=DEDICATED_BUCKET, Key="tenants/customer-456/x.json", Body=b"x", **KMS)
    denied(s3.list_objects_v2, Bucket=DEDICATED_BUCKET)
