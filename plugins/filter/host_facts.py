# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: host_facts
short_description: Pick the named variables of several hosts
version_added: 1.0.0
description:
  - "Returns C({host: {name: value}}) for the given hosts, with only the named variables that are defined on each
    host. Used to assemble the platform's outputs without evaluating every variable of every host."
positional: hosts, names
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: Host names.
    type: list
    elements: str
    required: true
  names:
    description: Variable names to pick.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Outputs of the hosts in this play
  ansible.builtin.set_fact:
    outputs: "{{ hostvars | manufacturing.platform.host_facts(ansible_play_hosts, ['tenant_id', 'network_facts']) }}"
"""

RETURN = r"""
_value:
  description: Mapping of host name to a mapping of the picked variables.
  type: dict
"""


def host_facts(hostvars, hosts, names):
    result = {}
    for host in hosts:
        hvars = hostvars[host]
        result[host] = {name: hvars[name] for name in names if name in hvars}
    return result


class FilterModule(object):
    def filters(self):
        return {"host_facts": host_facts}
