"""The inventory shows every tenant with its tier, and the environment's sizing, for each env."""

import pytest
from support.playbook import inventory_list, load_fleet

EXPECTED_AZS = {"local": 2, "dev": 2, "prod": 3}


@pytest.mark.parametrize("env", sorted(EXPECTED_AZS))
def test_inventory_lists_tenants_with_tier(env):
    data = inventory_list("-e", "env=%s" % env)
    hostvars = data["_meta"]["hostvars"]
    fleet = load_fleet()["all"]["children"]["tenants"]["hosts"]
    assert sorted(data["tenants"]["hosts"]) == sorted(fleet)
    assert data["platform_shared"]["hosts"] == ["platform-shared"]
    assert sorted(data["env_%s" % env]["hosts"]) == sorted(list(fleet) + ["platform-shared"])
    for host, fields in fleet.items():
        assert hostvars[host]["tenancy_tier"] == fields["tenancy_tier"]
        assert host in data["tier_%s" % fields["tenancy_tier"]]["hosts"]
        assert hostvars[host]["network_az_count"] == EXPECTED_AZS[env]


def test_reference_fleet_matches_the_seed():
    fleet = load_fleet()["all"]["children"]["tenants"]["hosts"]
    assert len(fleet) == 3
    assert all(t["tenant_machines"] == 15 for t in fleet.values())
    assert [h for h, t in fleet.items() if t["tenancy_tier"] == "dedicated"] == ["customer-123"]
