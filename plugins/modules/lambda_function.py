#!/usr/bin/python
# ruff: noqa: EXE001 - Ansible modules carry a shebang but are not executable files
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_function
short_description: Manage an AWS Lambda function (zip), its reserved concurrency, published versions and an alias
version_added: 1.0.0
description:
  - Creates, updates and deletes a Lambda function packaged as a zip file, idempotently.
  - The code is uploaded only when the SHA-256 of O(zip_file) differs from the function's C(CodeSha256) (or the
    architecture changes); the configuration is updated only when a managed setting differs from what Lambda
    reports (see the notes on how values are compared). Unlike M(amazon.aws.lambda), a function with a customer
    managed KMS key for its environment is not updated on every run.
  - Sets the reserved concurrency (C(PutFunctionConcurrency)), which no stock module manages.
  - With O(publish=true), publishes a version only when C($LATEST) differs (code or configuration) from the
    newest published version, and points the alias O(alias) at the newest version.
  - Every update is followed by a waiter on the function's C(State)/C(LastUpdateStatus) (no fixed sleeps);
    calls are retried with jittered backoff on throttling and C(ResourceConflictException), and creation
    retries while a just-created IAM role or KMS grant has not propagated yet.
author:
  - Manufacturing Platform Team (@manufacturing-platform)
options:
  name:
    description:
      - Function name.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the function, V(absent) deletes it (with its versions and aliases).
    type: str
    choices: [present, absent]
    default: present
  zip_file:
    description:
      - Path of the deployment package on the controller (at most 50 MB). Required with O(state=present).
    type: path
  runtime:
    description:
      - Runtime identifier, for example V(python3.12). Required with O(state=present).
    type: str
  handler:
    description:
      - Handler, for example V(alert_processor.handler.handler). Required with O(state=present).
    type: str
  role:
    description:
      - ARN of the execution role. Required with O(state=present).
    type: str
  architecture:
    description:
      - Instruction set architecture. Changing it re-uploads the code.
    type: str
    choices: [x86_64, arm64]
    default: x86_64
  memory_size:
    description:
      - Memory in MB (128-10240).
    type: int
    default: 128
  timeout:
    description:
      - Timeout in seconds (1-900).
    type: int
    default: 3
  description:
    description:
      - Description of the function.
    type: str
    default: ""
  environment:
    description:
      - Environment variables (values are converted to strings). The function holds exactly these.
    type: dict
    default: {}
  kms_key_arn:
    description:
      - ARN of the KMS key that encrypts the environment variables at rest. Give the key ARN, not an alias.
      - Omitted, the key is not managed.
    type: str
  vpc:
    description:
      - VPC attachment. Omitted or with empty lists, the function is not in a VPC.
    type: dict
    suboptions:
      subnet_ids:
        description: Subnets of the function's network interfaces.
        type: list
        elements: str
        default: []
      security_group_ids:
        description: Security groups of the function's network interfaces.
        type: list
        elements: str
        default: []
  tracing_mode:
    description:
      - X-Ray tracing mode.
    type: str
    choices: [Active, PassThrough]
    default: PassThrough
  reserved_concurrency:
    description:
      - Reserved concurrent executions (0 throttles every invocation). Omitted, the setting is left alone.
    type: int
  publish:
    description:
      - Publish a version when C($LATEST) differs from the newest published version.
    type: bool
    default: false
  version_description:
    description:
      - Description of versions published by this module.
    type: str
    default: ""
  alias:
    description:
      - Name of an alias to point at the newest published version (requires O(publish=true)).
    type: str
  alias_description:
    description:
      - Description of the alias.
    type: str
    default: ""
  tags:
    description:
      - Tags of the function. V(None) leaves the tags alone.
    type: dict
    aliases: [resource_tags]
  purge_tags:
    description:
      - Remove tags that are not in O(tags).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the function to become C(Active) / finish an update, and for IAM propagation.
    type: int
    default: 300
notes:
  - Check mode makes read calls only and reports the operations that would run (RV(actions)); diff mode shows
    the managed settings, the code hash, the concurrency, the tags and the alias target before and after.
  - Environment variables appear in the diff only by name (values may be sensitive).
requirements:
  - python >= 3.9
  - boto3
  - botocore
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Alert processor of one tenant, in its VPC, published behind the alias live
  manufacturing.platform.lambda_function:
    name: mfg-prod-customer-123-alert-processor
    zip_file: "{{ package.path }}"
    runtime: python3.12
    handler: alert_processor.handler.handler
    role: "{{ role.iam_role.arn }}"
    architecture: arm64
    memory_size: 512
    timeout: 30
    environment:
      TENANT_ID: customer-123
    kms_key_arn: "{{ storage_kms_key_arn }}"
    vpc:
      subnet_ids: "{{ network_facts.subnet_ids.private }}"
      security_group_ids: ["{{ network_facts.security_group_ids.lambda }}"]
    tracing_mode: Active
    reserved_concurrency: 20
    publish: true
    alias: live
    tags:
      Tenant: customer-123
"""

RETURN = r"""
function_name:
  description: Name of the function.
  returned: always
  type: str
function_arn:
  description: Unqualified ARN of the function (empty in check mode before creation).
  returned: always
  type: str
code_sha256:
  description: SHA-256 (base64) of the code the function runs (after this run).
  returned: when state=present
  type: str
version:
  description: Newest published version after this run (empty without O(publish); C(new) in check mode when
    one would be published).
  returned: when state=present
  type: str
published:
  description: Whether this run published a version.
  returned: when state=present
  type: bool
alias_arn:
  description: ARN of the alias O(alias).
  returned: when O(alias) is set
  type: str
reserved_concurrency:
  description: Reserved concurrency after this run (null when not set).
  returned: when state=present
  type: int
configuration:
  description: The function's configuration as Lambda reports it (before the run in check mode).
  returned: when the function exists
  type: dict
actions:
  description: Operations run (or, in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: [update_code, publish_version, update_alias]
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_function as lf
from ansible_collections.manufacturing.platform.plugins.module_utils import lambda_package as lp
from ansible_collections.manufacturing.platform.plugins.module_utils import aws_retry

try:  # noqa: SIM105 - the usual optional-import pattern of AWS modules
    import botocore
except ImportError:
    pass  # caught by AnsibleAWSModule

MAX_ZIP_BYTES = 50 * 1024 * 1024
# Messages of InvalidParameterValueException that mean "IAM/KMS has not caught up yet": retried.
PROPAGATION_HINTS = ("cannot be assumed", "assume", "kms", "createGrant")


class Runner:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.check = module.check_mode
        self.actions = []
        self.before = {}
        self.after = {}

    # ------------------------------------------------------------------ helpers

    def fail(self, exc, msg):
        self.module.fail_json_aws(exc, msg="%s %s: %s" % (msg, self.p["name"], exc))

    def get_function(self):
        try:
            return self.client.get_function(FunctionName=self.p["name"], aws_retry=True)
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
            self.fail(exc, "cannot read function")

    def wait(self, waiter, **kwargs):
        delay = 1
        try:
            aws_retry.retrying_waiter(self.client, waiter).wait(
                FunctionName=self.p["name"],
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, self.p["wait_timeout"] // delay)}, **kwargs)
        except botocore.exceptions.WaiterError as exc:
            self.module.fail_json(msg="function %s did not settle within %s s (%s): %s"
                                  % (self.p["name"], self.p["wait_timeout"], waiter, exc))

    def propagating(self, call, **kwargs):
        """Run a create/update call, retrying while IAM or KMS propagation is the reason it is refused."""
        deadline = time.monotonic() + self.p["wait_timeout"]
        delay = 1.0
        while True:
            try:
                return call(aws_retry=True, **kwargs)
            except is_boto3_error_code("InvalidParameterValueException") as exc:
                message = str(exc).lower()
                if time.monotonic() > deadline or not any(h.lower() in message for h in PROPAGATION_HINTS):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def versions(self):
        found, marker = [], None
        while True:
            kwargs = {"FunctionName": self.p["name"], "MaxItems": 50}
            if marker:
                kwargs["Marker"] = marker
            page = self.client.list_versions_by_function(aws_retry=True, **kwargs)
            found.extend(page.get("Versions", []))
            marker = page.get("NextMarker")
            if not marker:
                return found

    @staticmethod
    def diff_view(config, sha, concurrency, tags, alias_version):
        view = lf.normalise(config)
        view["Environment"] = sorted(view["Environment"])  # names only
        view["CodeSha256"] = sha
        view["Architecture"] = lf.architecture_of(config)
        view["ReservedConcurrency"] = concurrency
        view["Tags"] = dict(sorted((tags or {}).items()))
        view["AliasVersion"] = alias_version
        return view

    # ------------------------------------------------------------------ present

    def present(self):
        p = self.p
        for key in ("zip_file", "runtime", "handler", "role"):
            if not p.get(key):
                self.module.fail_json(msg="%s is required with state=present" % key)
        if p["alias"] and not p["publish"]:
            self.module.fail_json(msg="alias requires publish=true (an alias points at a published version)")
        try:
            with open(p["zip_file"], "rb") as handle:
                code = handle.read()
        except OSError as exc:
            self.module.fail_json(msg="cannot read %s: %s" % (p["zip_file"], exc))
        if len(code) > MAX_ZIP_BYTES:
            self.module.fail_json(msg="%s is %d bytes: direct uploads are limited to 50 MB"
                                  % (p["zip_file"], len(code)))
        sha = lp.code_sha256(code)
        arch = p["architecture"]
        desired = lf.desired_configuration(p)
        current = self.get_function()
        published = False
        config_changed = False
        if current is None:
            self.before = {}
            self.actions.append("create_function")
            config = dict(desired, CodeSha256=sha, Architectures=[arch])
            tags = p["tags"] or {}
            if not self.check:
                try:
                    kwargs = dict(desired, FunctionName=p["name"], Code={"ZipFile": code}, Architectures=[arch],
                                  Publish=False, PackageType="Zip")
                    if p["tags"]:
                        kwargs["Tags"] = {k: str(v) for k, v in p["tags"].items()}
                    self.propagating(self.client.create_function, **kwargs)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    self.fail(exc, "cannot create function")
                self.wait("function_active_v2")
            concurrency_now, alias_now = None, None
            config_changed = True
        else:
            config = current["Configuration"]
            tags = current.get("Tags") or {}
            concurrency_now = (current.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
            alias_now = self.alias_version()
            self.before = self.diff_view(config, config.get("CodeSha256"), concurrency_now, tags, alias_now)
            if config.get("CodeSha256") != sha or lf.architecture_of(config) != arch:
                self.actions.append("update_code")
                config_changed = True
                if not self.check:
                    try:
                        self.client.update_function_code(FunctionName=p["name"], ZipFile=code, Architectures=[arch],
                                                         Publish=False, aws_retry=True)
                    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                        self.fail(exc, "cannot update the code of")
                    self.wait("function_updated_v2")
            changes = lf.configuration_changes(desired, config)
            if changes:
                self.actions.append("update_configuration(%s)" % ",".join(changes))
                config_changed = True
                if not self.check:
                    try:
                        self.propagating(self.client.update_function_configuration, FunctionName=p["name"], **desired)
                    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                        self.fail(exc, "cannot update the configuration of")
                    self.wait("function_updated_v2")
            if p["tags"] is not None:
                to_set, to_remove = lf.tag_changes(tags, p["tags"], p["purge_tags"])
                if to_set or to_remove:
                    self.actions.append("tag_resource")
                    if not self.check:
                        try:
                            if to_remove:
                                self.client.untag_resource(Resource=config["FunctionArn"], TagKeys=to_remove,
                                                           aws_retry=True)
                            if to_set:
                                self.client.tag_resource(Resource=config["FunctionArn"], Tags=to_set, aws_retry=True)
                        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                            self.fail(exc, "cannot tag function")

        if p["reserved_concurrency"] is not None and p["reserved_concurrency"] != concurrency_now:
            self.actions.append("put_function_concurrency")
            if not self.check:
                try:
                    self.client.put_function_concurrency(FunctionName=p["name"],
                                                         ReservedConcurrentExecutions=p["reserved_concurrency"],
                                                         aws_retry=True)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    self.fail(exc, "cannot set the reserved concurrency of")

        version, alias_arn = "", ""
        if p["publish"]:
            version, published = self.publish(config_changed, sha)
        if p["alias"]:
            alias_arn = self.converge_alias(version, alias_now)

        final = config if self.check else (self.get_function() or {}).get("Configuration", config)
        concurrency = p["reserved_concurrency"] if p["reserved_concurrency"] is not None else concurrency_now
        final_tags = dict(tags)
        if p["tags"] is not None:
            final_tags = {k: str(v) for k, v in p["tags"].items()}
            if not p["purge_tags"]:
                final_tags = dict(tags, **final_tags)
        self.after = self.diff_view(dict(final, **desired), sha, concurrency, final_tags,
                                    version if p["alias"] else alias_now)
        return {
            "function_name": p["name"],
            "function_arn": final.get("FunctionArn", ""),
            "code_sha256": sha,
            "version": version,
            "published": published,
            "alias_arn": alias_arn,
            "reserved_concurrency": concurrency,
            "configuration": final if final.get("FunctionArn") else {},
        }

    def alias_version(self):
        if not self.p["alias"]:
            return None
        try:
            return self.client.get_alias(FunctionName=self.p["name"], Name=self.p["alias"],
                                         aws_retry=True)["FunctionVersion"]
        except is_boto3_error_code("ResourceNotFoundException"):
            return None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
            self.fail(exc, "cannot read the alias of")

    def publish(self, config_changed, sha):
        """(newest version after this run, whether this run published)."""
        if self.check and config_changed:
            self.actions.append("publish_version")
            return "new", False
        try:
            newest = lf.latest_version(self.versions())
            latest = self.client.get_function_configuration(FunctionName=self.p["name"], aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self.fail(exc, "cannot read the versions of")
        if not lf.needs_publish(latest, newest):
            return newest["Version"], False
        self.actions.append("publish_version")
        if self.check:
            return "new", False
        try:
            answer = self.client.publish_version(FunctionName=self.p["name"], CodeSha256=latest["CodeSha256"],
                                                 Description=self.p["version_description"], aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            self.fail(exc, "cannot publish a version of")
        self.wait("published_version_active", Qualifier=answer["Version"])
        return answer["Version"], True

    def converge_alias(self, version, alias_now):
        p = self.p
        arn = ""
        if alias_now is None:
            self.actions.append("create_alias")
            if not self.check:
                try:
                    arn = self.client.create_alias(FunctionName=p["name"], Name=p["alias"], FunctionVersion=version,
                                                   Description=p["alias_description"], aws_retry=True)["AliasArn"]
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    self.fail(exc, "cannot create the alias of")
        elif alias_now != version:
            self.actions.append("update_alias")
            if not self.check:
                try:
                    arn = self.client.update_alias(FunctionName=p["name"], Name=p["alias"], FunctionVersion=version,
                                                   Description=p["alias_description"], aws_retry=True)["AliasArn"]
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    self.fail(exc, "cannot update the alias of")
        if not arn:
            try:
                arn = self.client.get_alias(FunctionName=p["name"], Name=p["alias"], aws_retry=True)["AliasArn"]
            except is_boto3_error_code("ResourceNotFoundException"):
                arn = ""
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
                self.fail(exc, "cannot read the alias of")
        return arn

    # ------------------------------------------------------------------ absent

    def absent(self):
        current = self.get_function()
        if current is None:
            return {"function_name": self.p["name"], "function_arn": ""}
        self.before = {"FunctionArn": current["Configuration"]["FunctionArn"]}
        self.actions.append("delete_function")
        if not self.check:
            try:
                self.client.delete_function(FunctionName=self.p["name"], aws_retry=True)
            except is_boto3_error_code("ResourceNotFoundException"):
                pass
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # pylint: disable=duplicate-except
                self.fail(exc, "cannot delete function")
        return {"function_name": self.p["name"], "function_arn": current["Configuration"]["FunctionArn"]}


def main():
    module = AnsibleAWSModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "zip_file": {"type": "path"},
            "runtime": {"type": "str"},
            "handler": {"type": "str"},
            "role": {"type": "str"},
            "architecture": {"type": "str", "choices": ["x86_64", "arm64"], "default": "x86_64"},
            "memory_size": {"type": "int", "default": 128},
            "timeout": {"type": "int", "default": 3},
            "description": {"type": "str", "default": ""},
            "environment": {"type": "dict", "default": {}},
            "kms_key_arn": {"type": "str", "no_log": False},
            "vpc": {"type": "dict", "options": {
                "subnet_ids": {"type": "list", "elements": "str", "default": []},
                "security_group_ids": {"type": "list", "elements": "str", "default": []},
            }},
            "tracing_mode": {"type": "str", "choices": ["Active", "PassThrough"], "default": "PassThrough"},
            "reserved_concurrency": {"type": "int"},
            "publish": {"type": "bool", "default": False},
            "version_description": {"type": "str", "default": ""},
            "alias": {"type": "str"},
            "alias_description": {"type": "str", "default": ""},
            "tags": {"type": "dict", "aliases": ["resource_tags"]},
            "purge_tags": {"type": "bool", "default": True},
            "wait_timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    p = module.params
    if not 128 <= p["memory_size"] <= 10240:
        module.fail_json(msg="memory_size must be 128-10240 MB, got %s" % p["memory_size"])
    if not 1 <= p["timeout"] <= 900:
        module.fail_json(msg="timeout must be 1-900 s, got %s" % p["timeout"])
    if p["reserved_concurrency"] is not None and p["reserved_concurrency"] < 0:
        module.fail_json(msg="reserved_concurrency must be >= 0, got %s" % p["reserved_concurrency"])
    client = aws_retry.client(module, "lambda", extra_codes=["ResourceConflictException"])
    runner = Runner(module, client)
    result = runner.present() if p["state"] == "present" else runner.absent()
    result["actions"] = runner.actions
    result["changed"] = bool(runner.actions)
    if module._diff:
        result["diff"] = {"before": runner.before, "after": runner.after if p["state"] == "present" else {}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
