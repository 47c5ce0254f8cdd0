"""The secret rotation Lambda's pure parts: the user pair, identifier checks, the SCRAM verifier (checked against
the collection's own implementation, which the databases modules use)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "lambdas" / "secret_rotation"))
rotation = importlib.import_module("secret_rotation.handler")


def test_the_users_alternate_in_pairs():
    assert rotation.other_user("t_customer_1") == "t_customer_1_clone"
    assert rotation.other_user("t_customer_1_clone") == "t_customer_1"
    assert rotation.base_user("t_customer_1_clone") == rotation.base_user("t_customer_1") == "t_customer_1"


@pytest.mark.parametrize("user", ['t_a"; DROP ROLE x; --', "T_A", "t-a", "", "a" * 64])
def test_a_user_name_that_is_not_a_plain_identifier_is_refused(user):
    value = {"host": "h", "port": 5432, "dbname": "d", "username": user, "password": "p"}
    with pytest.raises(rotation.RotationError):
        rotation.check_secret(value, "arn")
    with pytest.raises(rotation.RotationError):
        rotation.quote(user)


def test_a_secret_missing_a_field_is_refused():
    with pytest.raises(rotation.RotationError, match="lacks host, password"):
        rotation.check_secret({"port": 5432, "dbname": "d", "username": "t_a"}, "arn")


def test_the_verifier_is_what_postgresql_checks():
    from ansible_collections.manufacturing.platform.plugins.module_utils.rds_postgres import scram_matches

    verifier = rotation.scram_sha256_verifier("s3cret-Passw0rd")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert scram_matches(verifier, "s3cret-Passw0rd") and not scram_matches(verifier, "other")


def test_an_unknown_step_is_refused():
    with pytest.raises(rotation.RotationError, match="unknown step"):
        rotation.handler({"SecretId": "arn", "ClientRequestToken": "t", "Step": "dropSecret"})
