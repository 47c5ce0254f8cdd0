"""timescale_retention puts hypertable names into SQL only parsed (PostgreSQL identifier rules) and quoted, as
bound ``::regclass`` parameters: hostile names are refused or stay one quoted identifier, and names PostgreSQL
would silently truncate (64+ bytes) are refused."""

from __future__ import annotations

import pytest

from ansible_collections.manufacturing.platform.plugins.module_utils import timescale as ts


@pytest.mark.parametrize("name", ['x"; DROP SCHEMA public; --.machine_metrics', "a\nb.machine_metrics",
                                  "t_" + "a" * 62 + ".machine_metrics", "s.machine_metrics; DROP TABLE x", "",
                                  ".machine_metrics", '"".m', '"unterminated.m'])
def test_hostile_or_too_long_names_are_refused(name):
    with pytest.raises(ValueError):
        ts.parse_relation_name(name)


def test_63_bytes_is_the_limit():
    name = "t_" + "a" * 61
    assert ts.parse_relation_name(name + ".machine_metrics") == (name, "machine_metrics")


def test_a_quoted_name_with_quotes_stays_one_quoted_identifier():
    schema, table = ts.parse_relation_name('"x""; DROP SCHEMA public; --".m')
    assert schema == 'x"; DROP SCHEMA public; --'
    assert ts.relation_ref(schema, table) == '"x""; DROP SCHEMA public; --"."m"'


def test_unquoted_upper_case_folds_like_postgresql():
    assert ts.parse_relation_name("T_Customer.Machine_Metrics") == ("t_customer", "machine_metrics")
