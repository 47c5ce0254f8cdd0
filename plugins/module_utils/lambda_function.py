# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the lambda_function module: desired configuration, comparison with what Lambda reports.

Kept free of boto3 so the comparison rules (which decide whether a run changes anything) are unit tested.
Lambda answers some fields in a normalised form; the rules below compare like with like:

* ``KMSKeyArn`` is compared as given: pass the key ARN (an alias ARN never matches what Lambda reports);
* subnets and security groups are sets; ``VpcConfig.VpcId`` is ignored (derived; the emulator reports a
  constant);
* an absent ``Environment``/``Variables`` equals ``{}``; an absent ``Description`` equals ``""``;
* ``TracingConfig.Mode`` absent means ``PassThrough``.
"""

from __future__ import annotations

# Configuration fields compared between $LATEST and a published version (what makes a version different).
VERSION_FIELDS = ("CodeSha256", "Runtime", "Handler", "Role", "MemorySize", "Timeout", "Environment", "KMSKeyArn",
                  "VpcConfig", "TracingConfig", "Architectures")


def desired_configuration(params):
    """UpdateFunctionConfiguration arguments (without FunctionName) from the module parameters."""
    config = {
        "Runtime": params["runtime"],
        "Handler": params["handler"],
        "Role": params["role"],
        "MemorySize": params["memory_size"],
        "Timeout": params["timeout"],
        "Description": params.get("description") or "",
        "Environment": {"Variables": {k: str(v) for k, v in (params.get("environment") or {}).items()}},
        "TracingConfig": {"Mode": params["tracing_mode"]},
    }
    if params.get("kms_key_arn"):
        config["KMSKeyArn"] = params["kms_key_arn"]
    vpc = params.get("vpc") or {}
    config["VpcConfig"] = {"SubnetIds": list(vpc.get("subnet_ids") or []),
                           "SecurityGroupIds": list(vpc.get("security_group_ids") or [])}
    return config


def normalise(config):
    """Comparable form of a configuration, desired or reported."""
    env = ((config.get("Environment") or {}).get("Variables")) or {}
    vpc = config.get("VpcConfig") or {}
    return {
        "Runtime": config.get("Runtime"),
        "Handler": config.get("Handler"),
        "Role": config.get("Role"),
        "MemorySize": config.get("MemorySize"),
        "Timeout": config.get("Timeout"),
        "Description": config.get("Description") or "",
        "Environment": dict(sorted(env.items())),
        "KMSKeyArn": config.get("KMSKeyArn") or "",
        "SubnetIds": sorted(vpc.get("SubnetIds") or []),
        "SecurityGroupIds": sorted(vpc.get("SecurityGroupIds") or []),
        "TracingMode": (config.get("TracingConfig") or {}).get("Mode") or "PassThrough",
    }


def configuration_changes(desired, current):
    """Names of the fields whose desired value differs from the current one (sorted)."""
    want, have = normalise(desired), normalise(current)
    if not desired.get("KMSKeyArn"):
        want["KMSKeyArn"] = have["KMSKeyArn"]  # not managed
    return sorted(k for k in want if want[k] != have[k])


def architecture_of(config):
    return (config.get("Architectures") or ["x86_64"])[0]


def version_fingerprint(config):
    """What distinguishes one published version from another (code and configuration)."""
    out = normalise(config)
    out.pop("Description")  # a version's description is the PublishVersion one, not the function's
    out["CodeSha256"] = config.get("CodeSha256")
    out["Architecture"] = architecture_of(config)
    return out


def latest_version(versions):
    """The highest numbered published version of a ListVersionsByFunction answer, or None."""
    numbered = [v for v in versions if str(v.get("Version", "")).isdigit()]
    return max(numbered, key=lambda v: int(v["Version"])) if numbered else None


def needs_publish(latest_config, published):
    """Whether $LATEST differs from the newest published version (or there is none)."""
    if published is None:
        return True
    return version_fingerprint(latest_config) != version_fingerprint(published)


def tag_changes(current, desired, purge):
    """(tags to set, keys to remove)."""
    desired = {k: str(v) for k, v in (desired or {}).items()}
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = sorted(k for k in current if k not in desired and not k.startswith("aws:")) if purge else []
    return to_set, to_remove
