"""databases_secret: which fields are kept and which are generated (pure function, no AWS call)."""

from __future__ import annotations

from ansible_collections.manufacturing.platform.plugins.modules.databases_secret import wanted_value


def test_generated_field_is_created_when_missing():
    value = wanted_value({}, {"username": "t_a"}, ["password"], 32)
    assert value["username"] == "t_a" and len(value["password"]) == 32 and value["password"].isalnum()


def test_generated_field_is_kept_when_present():
    current = {"username": "t_a", "password": "kept"}
    assert wanted_value(current, {"username": "t_a"}, ["password"], 32)["password"] == "kept"


def test_given_fields_win_over_current_ones():
    current = {"host": "old", "password": "kept"}
    assert wanted_value(current, {"host": "new"}, ["password"], 32) == {"host": "new", "password": "kept"}


def test_password_is_regenerated_when_the_user_it_belongs_to_changes():
    """An old tenant secret carrying the admin's user and password must not hand the admin password to the tenant."""
    current = {"username": "postgres", "password": "admin-password"}
    value = wanted_value(current, {"username": "t_a"}, ["password"], 32, ["username"])
    assert value["username"] == "t_a" and value["password"] != "admin-password" and len(value["password"]) == 32


def test_password_is_kept_when_its_user_is_unchanged():
    current = {"username": "t_a", "password": "kept"}
    assert wanted_value(current, {"username": "t_a"}, ["password"], 32, ["username"])["password"] == "kept"


def test_a_rotated_secret_keeps_its_alternate_user_and_password():
    """After a rotation (alternating users) the secret holds <user>_clone: a converge keeps it as it is."""
    from ansible_collections.manufacturing.platform.plugins.modules.databases_secret import rotated_value

    current = {"username": "t_a_clone", "password": "rotated", "host": "db"}
    given = rotated_value(current, {"username": "t_a", "host": "db"}, "_clone")
    assert wanted_value(current, given, ["password"], 32, ["username"]) == current


def test_only_the_alternate_of_the_given_user_is_kept():
    from ansible_collections.manufacturing.platform.plugins.modules.databases_secret import rotated_value

    assert rotated_value({"username": "t_b_clone"}, {"username": "t_a"}, "_clone") == {"username": "t_a"}
    assert rotated_value({"username": "t_a_clone"}, {"username": "t_a"}, None) == {"username": "t_a"}
    current = {"username": "postgres", "password": "admin-password"}
    value = wanted_value(current, rotated_value(current, {"username": "t_a"}, "_clone"), ["password"], 32,
                         ["username"])
    assert value["username"] == "t_a" and value["password"] != "admin-password"
