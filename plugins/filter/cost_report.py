# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
name: cost_report
short_description: Render a cost estimate as a Markdown or a self-contained HTML report
version_added: 1.0.0
description:
  - Renders the result of P(manufacturing.platform.cost_estimate#filter) for people - tables per service and per
    tenant, shared versus dedicated, the seed's savings claims and the reference check.
  - The HTML report is one file with inline CSS and inline SVG charts (no script, no external asset).
  - The output depends on the estimate only (no timestamp), so rewriting an unchanged report changes nothing.
positional: format
options:
  _input:
    description: The estimate returned by P(manufacturing.platform.cost_estimate#filter).
    type: dict
    required: true
  format:
    description: Output format.
    type: str
    choices: [markdown, html]
    default: markdown
"""

EXAMPLES = r"""
- name: Write the Markdown report
  ansible.builtin.copy:
    content: "{{ estimate | manufacturing.platform.cost_report('markdown') }}"
    dest: "{{ platform_outputs_dir }}/cost-{{ env }}.md"
    mode: "0640"
"""

RETURN = r"""
_value:
  description: The report text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.manufacturing.platform.plugins.plugin_utils import cost_render


def cost_report(estimate, format="markdown"):  # noqa: A002 - the documented option name
    if format not in cost_render.FORMATS:
        choices = ", ".join(cost_render.FORMATS)
        raise AnsibleFilterError("cost_report: format must be one of %s, got %r" % (choices, format))
    try:
        return cost_render.FORMATS[format](estimate)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("cost_report: the input is not a cost_estimate result (%s)" % exc) from exc


class FilterModule(object):
    def filters(self):
        return {"cost_report": cost_report}
