# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared WAFv2 reads of the wafv2_* modules."""

from __future__ import annotations


def web_acl_summary(client, name, scope):
    """The ``ListWebACLs`` entry of the web ACL called ``name`` in ``scope`` (paginated), or None."""
    params = {"Scope": scope, "Limit": 100}
    while True:
        page = client.list_web_acls(aws_retry=True, **params)
        for summary in page.get("WebACLs", []):
            if summary["Name"] == name:
                return summary
        if not page.get("NextMarker"):
            return None
        params["NextMarker"] = page["NextMarker"]
