"""Unit tests of the comparison rules of the lambda_function module (module_utils/lambda_function.py)."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_function as lf

KEY = "arn:aws:kms:us-east-1:123456789012:key/k1"
PARAMS = {
    "runtime": "python3.12", "handler": "h.handler", "role": "arn:aws:iam::1:role/r", "memory_size": 256,
    "timeout": 30, "description": "d", "environment": {"B": 2, "A": "x"}, "kms_key_arn": KEY,
    "vpc": {"subnet_ids": ["subnet-2", "subnet-1"], "security_group_ids": ["sg-1"]}, "tracing_mode": "Active",
}


def reported(**over):
    """What GetFunction reports for PARAMS (normalised differently: order, VpcId, string values)."""
    config = {
        "Runtime": "python3.12", "Handler": "h.handler", "Role": "arn:aws:iam::1:role/r", "MemorySize": 256,
        "Timeout": 30, "Description": "d", "Environment": {"Variables": {"A": "x", "B": "2"}}, "KMSKeyArn": KEY,
        "VpcConfig": {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"], "VpcId": "vpc-123abc"},
        "TracingConfig": {"Mode": "Active"}, "CodeSha256": "abc=", "Architectures": ["arm64"], "Version": "$LATEST",
    }
    config.update(over)
    return config


def test_an_unchanged_function_has_no_changes_with_a_kms_key():
    """The stock amazon.aws.lambda updates such a function on every run; this must not."""
    assert lf.configuration_changes(lf.desired_configuration(PARAMS), reported()) == []


def test_each_managed_field_is_detected():
    desired = lf.desired_configuration(PARAMS)
    assert lf.configuration_changes(desired, reported(MemorySize=512)) == ["MemorySize"]
    assert lf.configuration_changes(desired, reported(KMSKeyArn="")) == ["KMSKeyArn"]
    assert lf.configuration_changes(desired, reported(TracingConfig={"Mode": "PassThrough"})) == ["TracingMode"]
    assert lf.configuration_changes(desired, reported(Environment={"Variables": {"A": "x"}})) == ["Environment"]
    vpc = {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"], "VpcId": "vpc-1"}
    assert lf.configuration_changes(desired, reported(VpcConfig=vpc)) == ["SubnetIds"]


def test_unmanaged_kms_key_is_left_alone():
    params = dict(PARAMS, kms_key_arn=None)
    assert lf.configuration_changes(lf.desired_configuration(params), reported()) == []


def test_publish_only_when_latest_differs_from_the_newest_version():
    versions = [reported(), reported(Version="1"), reported(Version="2", Description="package 123")]
    newest = lf.latest_version(versions)
    assert newest["Version"] == "2"
    assert not lf.needs_publish(reported(Description="function description"), newest)
    assert lf.needs_publish(reported(CodeSha256="new="), newest)
    assert lf.needs_publish(reported(MemorySize=1024), newest)
    assert lf.needs_publish(reported(), None)
    assert lf.latest_version([reported()]) is None
    assert lf.latest_version([reported(Version="9"), reported(Version="10")])["Version"] == "10"


def test_tag_changes():
    assert lf.tag_changes({"A": "1", "B": "2", "aws:x": "y"}, {"A": 1, "C": "3"}, True) == ({"C": "3"}, ["B"])
    assert lf.tag_changes({"A": "1", "B": "2"}, {"A": "1"}, False) == ({}, [])
