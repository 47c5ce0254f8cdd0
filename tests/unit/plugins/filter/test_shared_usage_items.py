"""The destroy guard's naming rules (plugins/filter/shared_usage_items.py): which tenant a name on the shared layer
belongs to, and '' for anything the platform did not make (which the guard never ignores)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.manufacturing.platform.plugins.filter.shared_usage_items import shared_usage_items


@pytest.mark.parametrize(
    ("kind", "name", "tenant"),
    [
        ("database", "t_customer_456", "customer-456"),
        ("schema", "t_a1", "a1"),
        ("database", "reporting", ""),
        ("database", "t_", ""),
        ("database", "t_Customer_1", ""),  # not a name the platform makes (tenant ids are lowercase)
        ("schema", "t_customer_1_", ""),
        ("database", "t_customer-1", ""),  # SQL names of tenants use '_'
        ("topic", "customer-123.telemetry", "customer-123"),
        ("topic", "customer-123.", ""),
        ("topic", "telemetry", ""),
        ("topic", "-x.telemetry", ""),
    ],
)
def test_names_map_to_the_tenant_the_naming_gives_them(kind, name, tenant):
    assert shared_usage_items([name], kind) == [{"kind": kind, "name": name, "tenant": tenant}]


def test_vpcs_with_a_tenant_tag_are_items():
    vpcs = [
        {"vpc_id": "vpc-1", "tags": {"Name": "mfg-prod-customer-1", "Tenant": "customer-1"}},
        {"vpc_id": "vpc-2", "tags": {"Name": "mfg-prod-shared"}},
    ]
    assert shared_usage_items(vpcs, "vpc") == [
        {"kind": "vpc", "name": "vpc-1 (mfg-prod-customer-1)", "tenant": "customer-1"}
    ]


def test_live_peerings_belong_to_the_tenant_of_the_requester_vpc():
    vpcs = [{"vpc_id": "vpc-1", "tags": {"Tenant": "customer-1"}}]

    def peering(ident, status, requester):
        return {"vpc_peering_connection_id": ident, "status": {"code": status},
                "requester_vpc_info": {"vpc_id": requester}}

    peerings = [peering("pcx-1", "active", "vpc-1"), peering("pcx-2", "pending-acceptance", "vpc-9"),
                peering("pcx-3", "deleted", "vpc-1"), peering("pcx-4", "rejected", "vpc-1")]
    assert shared_usage_items(peerings, "peering", vpcs=vpcs) == [
        {"kind": "peering", "name": "pcx-1", "tenant": "customer-1"},
        {"kind": "peering", "name": "pcx-2", "tenant": ""},
    ]


def test_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind must be one of"):
        shared_usage_items(["x"], "bucket")
