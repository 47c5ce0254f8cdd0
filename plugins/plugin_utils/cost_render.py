# -*- coding: utf-8 -*-
# Copyright: contributors to manufacturing.platform
# Apache License 2.0 (see LICENSE)
"""Render a cost estimate (plugin_utils/cost_model.py) as Markdown or as one self-contained HTML page.

The HTML page has inline CSS and inline SVG charts only: no script, no font, no external asset. Output depends
on the estimate alone (no timestamp, stable ordering), so an unchanged estimate renders byte-identical text.
"""

from __future__ import annotations

import html

# Tableau 10 plus one: distinguishable, readable on white.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac", "#86bcb6")
SEED_NOTES = {
    "rds": "one shared instance replaces one instance per tenant",
    "msk": "one shared cluster replaces one cluster per tenant",
    "s3": "S3 bills GB stored and requests, not buckets",
    "timescaledb": "not in the seed's claims",
    "total": "everything, including what both tiers pay alike",
}


def money(value, signed=False):
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return "%s$%s" % (sign, format(abs(value), ",.2f"))


def pct(value, signed=False):
    if value is None:
        return "—"
    return ("%+.1f %%" if signed else "%.1f %%") % value


def number(value):
    if value == int(value) and abs(value) < 1e12:
        return format(int(value), ",")
    if abs(value) >= 100:
        return format(value, ",.1f")
    if abs(value) >= 1:
        return format(value, ",.2f")
    return ("%.4f" % value).rstrip("0").rstrip(".") or "0"


def unit_price(value):
    return "$" + (("%.10f" % value).rstrip("0").rstrip(".") if value else "0")


BREAK_EVEN_NOTE = ("\"Shared pays off from\": the number of shared-tier tenants of this size from which the "
                   "tenant's part of the shared layer costs less than its own right-sized data stores (the shared "
                   "layer's size kept as it is).")


def break_even(tenant):
    count = tenant.get("break_even_tenants")
    return "never" if count is None else "%d tenants" % count


def labels(estimate):
    return {s["key"]: s["label"] for s in estimate["services"]}


def service_keys(estimate):
    return [s["key"] for s in estimate["services"]]


def _summary_lines(estimate):
    """Headline facts, shared by both formats (plain text with ** for emphasis)."""
    prices = estimate["prices"]
    tenants = estimate["tenants"]
    lines = [
        "**%s per month** for %d tenant(s) and %d machines: **%s per machine**."
        % (money(estimate["total"]), len(tenants), estimate["machines"], money(estimate["per_machine"])),
    ]
    ref = estimate.get("reference")
    if ref and ref.get("budget") and ref["applies"]:
        lines.append("Budget %s per month: %s used, %s headroom."
                     % (money(ref["budget"]), pct(ref["budget_used_pct"]), money(ref["budget_headroom"])))
    if ref and ref.get("expected"):
        if ref["applies"]:
            verdict = "within" if ref["within_tolerance"] else "OUTSIDE"
            lines.append("The seed's ~%s per month for this environment: the model is %s (%s), %s the ±%s tolerance%s."
                         % (money(ref["expected"]).replace(".00", ""), money(ref["delta"], True),
                            pct(ref["delta_pct"], True), verdict, pct(ref["tolerance_pct"]).replace(" ", ""),
                            "" if ref["fleet_matches"] else " (but this fleet is not the seed's reference fleet)"))
        else:
            lines.append("The seed's ~%s per month is a %s figure; this is %s (no comparison)."
                         % (money(ref["expected"]).replace(".00", ""), ref["env"], estimate["env"]))
    if estimate["env"] == "local":
        lines.append("env=local runs on the local cloud (one machine, no AWS bill): the figures are what this sizing "
                     "would cost on AWS.")
    lines.append("Prices: %s on-demand list prices (%s) as of %s, %s; usage is assumed, not measured."
                 % (prices["region"], prices["currency"], prices["as_of"], prices.get("status") or "estimate"))
    return lines


def _assumption_rows(estimate):
    return [[k, number(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v]
            for k, v in sorted(estimate["assumptions"].items())]


def _service_detail(estimate, service):
    """What a service's money is made of: line items grouped across scopes, largest first."""
    groups = {}
    for line in estimate["line_items"]:
        if line["service"] != service:
            continue
        what = line["item"]
        entry = groups.setdefault(what, [0, 0.0])
        entry[0] += 1
        entry[1] += line["monthly"]
    parts = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return "; ".join("%s%s %s" % (what, " (×%d)" % count if count > 1 else "", money(amount))
                     for what, (count, amount) in parts if amount >= 0.005) or "—"


def _savings_explanation(estimate):
    tenants = len(estimate["tenants"])
    out = []
    for row in estimate["savings"]:
        if row["service"] == "total":
            continue
        claim = row["seed_claim_pct"]
        text = ("%s: the model saves %s right-sized, %s if every dedicated tenant had the shared layer's size "
                "(the arithmetic of 1 − 1/N for N = %d tenants is %s)"
                % (row["label"], pct(row["savings_pct"]), pct(row["like_for_like_pct"]), tenants,
                   pct(row["naive_pct"])))
        if claim is not None:
            text += "; the seed claims ~%s" % pct(claim).replace(".0 ", " ")
        if row["service"] == "s3":
            text += (". S3 has no per-bucket charge: a dedicated bucket holds the same GB and takes the same requests "
                     "as a prefix in the shared one, so the model finds no saving; the seed's ~70 % cannot come from "
                     "S3's price list (a dedicated tenant's own KMS key, $1, is counted under KMS)")
        elif row["service"] in ("rds", "msk"):
            text += (". Sharing saves 1 − 1/N only when every dedicated tenant would get an instance as large as the "
                     "shared one; right-sizing the dedicated ones (cost_dedicated_size_ladder) shrinks the saving, "
                     "and storage and logs that scale with usage are not saved at all")
        out.append(text + ".")
    return out


def _reference_notes(estimate):
    ref = estimate.get("reference")
    if not ref or not ref.get("expected") or not ref["applies"]:
        return []
    notes = [
        "The seed states a total (~%s) without a breakdown, so the difference cannot be assigned to the seed's own "
        "lines; the table lists every line of the model so each assumption can be checked against it."
        % money(ref["expected"]).replace(".00", ""),
    ]
    drivers = estimate["drivers"]["services"]
    fixed = [d for d in drivers if d["service"] in ("rds", "msk", "timescaledb", "nat", "vpc_endpoints")]
    share = sum(d["share_pct"] for d in fixed)
    notes.append("%.0f %% of the model is fixed capacity billed per hour (data stores, NAT gateways, interface "
                 "endpoints) that does not depend on the %d machines' traffic; usage-priced services (Lambda, API "
                 "Gateway, S3, CloudWatch, KMS, Secrets Manager) are the rest." % (share, estimate["machines"]))
    notes.append("Per-VPC costs multiply with tenants: the seed gives every tenant its own VPC (both tiers), and in "
                 "prod each VPC has a NAT gateway and every interface endpoint in each of its AZs.")
    return notes


# ---------------------------------------------------------------------------------------------------------------
# Markdown


def _md_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return out


def markdown(estimate):
    names = labels(estimate)
    keys = service_keys(estimate)
    tenants = estimate["tenants"]
    shared = estimate["shared_layer"]
    out = ["# Monthly cost estimate: `%s`" % estimate["env"], ""]
    out += ["- " + line for line in _summary_lines(estimate)] + [""]

    out += ["## Where the money goes", ""]
    out += _md_table(["Service", "$/month", "Share", "Made of"],
                     [[d["label"], money(d["monthly"]), pct(d["share_pct"]), _service_detail(estimate, d["service"])]
                      for d in estimate["drivers"]["services"]], ["l", "r", "r", "l"])
    out += ["| **Total** | **%s** | 100.0 %% | |" % money(estimate["total"]), ""]

    out += ["## Per tenant", "",
            "A tenant's total is what it runs itself plus its part of the shared layer (split over the shared-tier "
            "tenants by machines).", ""]
    rows = [[t["tenant_id"], t["display_name"], t["tier"], t["machines"], money(t["own_total"]),
             money(t["shared_share"]), "**%s**" % money(t["total"]), money(t["per_machine"])] for t in tenants]
    if shared["unallocated"]:
        rows.append(["shared layer", "no shared-tier tenant", "", "", money(shared["unallocated"]), "",
                     "**%s**" % money(shared["unallocated"]), ""])
    rows.append(["**Total**", "", "", estimate["machines"], "", "", "**%s**" % money(estimate["total"]),
                 money(estimate["per_machine"])])
    out += _md_table(["Tenant", "Name", "Tier", "Machines", "Own resources", "Share of shared layer", "Total",
                      "Per machine"], rows, ["l", "l", "l", "r", "r", "r", "r", "r"]) + [""]

    out += ["## Per service and scope", "",
            "The shared layer before it is split; tenants' own resources.", ""]
    header = ["Service", "Shared layer"] + [t["tenant_id"] for t in tenants] + ["Total"]
    rows = [[names[k], money(shared["by_service"][k])] + [money(t["own_by_service"][k]) for t in tenants]
            + [money(estimate["by_service"][k])] for k in keys]
    rows.append(["**Total**", "**%s**" % money(shared["total"])] + ["**%s**" % money(t["own_total"]) for t in tenants]
                + ["**%s**" % money(estimate["total"])])
    out += _md_table(header, rows) + [""]

    out += ["## Shared or dedicated, per tenant", "",
            "Every tenant priced both ways: as a shared-tier tenant it pays its part of the shared layer (joining "
            "the pool if it is dedicated today); as a dedicated tenant it pays its own right-sized RDS instance, MSK "
            "cluster, TimescaleDB service, KMS key, secrets, alarms and dashboard.", ""]
    rows = []
    for t in tenants:
        sizing = t["if_dedicated"]["sizing"]
        rows.append([t["tenant_id"], t["tier"], money(t["if_shared"]["total"]), money(t["if_dedicated"]["total"]),
                     money(t["dedicated_premium"], True), pct(t["shared_savings_pct"]), t["cheaper_tier"],
                     break_even(t), "%s, %s, %s" % (sizing["rds_instance_class"], sizing["msk_broker_type"],
                                                    sizing["timescaledb_plan"])])
    out += _md_table(["Tenant", "Tier now", "As shared", "As dedicated", "Dedicated premium", "Shared saves",
                      "Cheaper", "Shared pays off from", "Dedicated sizing (RDS, MSK, TimescaleDB)"], rows,
                     ["l", "l", "r", "r", "r", "r", "l", "r", "l"]) + [""]
    out += [BREAK_EVEN_NOTE, ""]
    out += ["By service (as shared → as dedicated):", ""]
    header = ["Service"] + [t["tenant_id"] for t in tenants]
    rows = [[names[k]] + ["%s → %s" % (money(t["if_shared"]["by_service"][k]),
                                       money(t["if_dedicated"]["by_service"][k])) for t in tenants] for k in keys]
    out += _md_table(header, rows) + [""]

    out += ["## The seed's shared-tier savings claims", "",
            "The fleet's %d tenants all on the shared tier versus all dedicated (each with its own data stores)."
            % len(tenants), ""]
    rows = [[r["label"], money(r["all_shared"]), money(r["all_dedicated"]), "**%s**" % pct(r["savings_pct"]),
             money(r["all_dedicated_like_for_like"]), pct(r["like_for_like_pct"]),
             pct(r["seed_claim_pct"]) if r["seed_claim_pct"] is not None else "—", SEED_NOTES.get(r["service"], "")]
            for r in estimate["savings"]]
    out += _md_table(["Service", "All shared", "All dedicated (right-sized)", "Model saves",
                      "All dedicated (shared layer's size)", "Saves (like for like)", "Seed claims", "Note"], rows,
                     ["l", "r", "r", "r", "r", "r", "r", "l"]) + [""]
    out += ["- " + line for line in _savings_explanation(estimate)] + [""]

    ref = estimate.get("reference")
    if ref and ref.get("expected") and ref["applies"]:
        out += ["## Reference check: the seed's ~%s per month" % money(ref["expected"]).replace(".00", ""), ""]
        out += ["Model %s vs seed %s: %s (%s); tolerance ±%s: **%s**."
                % (money(estimate["total"]), money(ref["expected"]), money(ref["delta"], True),
                   pct(ref["delta_pct"], True), pct(ref["tolerance_pct"]),
                   "within" if ref["within_tolerance"] else "outside — explained line by line below"), ""]
        out += ["- " + n for n in _reference_notes(estimate)] + [""]
        out += _md_table(["Line (service)", "Model $/month", "Share", "How the model gets there"],
                         [[d["label"], money(d["monthly"]), pct(d["share_pct"]),
                           _service_detail(estimate, d["service"])] for d in estimate["drivers"]["services"]],
                         ["l", "r", "r", "l"])
        out += ["| **Model total** | **%s** | | seed: ~%s, difference %s |"
                % (money(estimate["total"]), money(ref["expected"]), money(ref["delta"], True)), ""]

    out += ["## S3 data lake by storage class", "",
            "GB stored under each tenant's prefix after %d days of ingestion (the bill of that month)."
            % (tenants[0]["s3"]["data_age_days"] if tenants else 0), ""]
    classes = []
    for t in tenants:
        for klass in t["s3"]["classes"]:
            if klass not in classes:
                classes.append(klass)
    rows = []
    for t in tenants:
        lifecycle = ", ".join("%s@%dd" % (r["storage_class"], r["days"]) for r in t["s3"]["transitions"]) or "none"
        rows.append([t["tenant_id"], lifecycle, number(t["s3"]["gb_per_month"])]
                    + [number(t["s3"]["classes"].get(k, 0)) for k in classes] + [money(t["own_by_service"]["s3"])])
    out += _md_table(["Tenant", "Lifecycle", "GB in/month"] + ["%s GB" % k for k in classes] + ["S3 $/month"], rows,
                     ["l", "l"] + ["r"] * (len(classes) + 2)) + [""]

    out += ["## Assumptions", "",
            "Environment values (group_vars/all/cost.yml and group_vars/env_%s.yml); a tenant host may override any "
            "of them for itself. Shared layer: RDS %s %s, %d MSK brokers %s, TimescaleDB %s × %d node(s), %d AZs, "
            "%d NAT gateway(s) per VPC."
            % (estimate["env"], shared["sizing"]["rds_instance_class"],
               "Multi-AZ" if shared["sizing"]["rds_multi_az"] else "Single-AZ", shared["sizing"]["msk_brokers"],
               shared["sizing"]["msk_broker_type"], shared["sizing"]["timescaledb_plan"],
               shared["sizing"]["timescaledb_nodes"], shared["sizing"]["az_count"], shared["sizing"]["nat_gateways"]),
            ""]
    out += _md_table(["Input", "Value"], _assumption_rows(estimate), ["l", "r"])
    out += ["", "## All line items", ""]
    out += _md_table(["Scope", "Service", "Item", "Quantity", "Unit", "Unit price", "$/month"],
                     [[li["scope"], names[li["service"]], li["item"], number(li["quantity"]), li["unit"],
                       unit_price(li["unit_price"]), money(li["monthly"])] for li in estimate["line_items"]],
                     ["l", "l", "l", "r", "l", "r", "r"])
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# HTML + SVG

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1100px;margin:2em auto;
padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.kpis{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}.kpi{background:#f5f7fa;border-radius:8px;padding:.7em 1.1em;
min-width:10em}.kpi b{display:block;font-size:1.5em}.kpi span{color:#555;font-size:.9em}
.ok{color:#2e7d32}.warn{color:#c62828}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{padding:.3em .7em;border-bottom:1px solid #eee;
vertical-align:top}th{background:#f5f7fa;text-align:left}td.n,th.n{text-align:right;white-space:nowrap}
tr.total td{font-weight:bold;border-top:2px solid #ccc}
figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}svg text{font:12px system-ui,sans-serif;fill:#333}
details{margin:1em 0}summary{cursor:pointer;font-weight:bold}.note{color:#555}
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _html_table(header, rows, numeric=None, total_last=False):
    numeric = numeric or set()
    out = ["<table><thead><tr>"]
    out += [('<th class="n">%s</th>' if i in numeric else "<th>%s</th>") % _e(h) for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for index, row in enumerate(rows):
        cls = ' class="total"' if total_last and index == len(rows) - 1 else ""
        cells = [('<td class="n">%s</td>' if i in numeric else "<td>%s</td>") % _e(c) for i, c in enumerate(row)]
        out.append("<tr%s>%s</tr>" % (cls, "".join(cells)))
    out.append("</tbody></table>")
    return "".join(out)


def _colors(estimate):
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(service_keys(estimate))}


def _axis_max(value):
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


def svg_bars(title, rows, colors, legend=None, width=760, fmt=money):
    """Horizontal bar chart. rows: [(label, [(key, value), ...])]; several values per row are stacked."""
    label_w, bar_h, gap, top = 240, 22, 10, 30
    plot_w = width - label_w - 90
    maximum = _axis_max(max((sum(v for _k, v in parts) for _l, parts in rows), default=0))
    height = top + len(rows) * (bar_h + gap) + 30 + (22 * ((len(legend) + 3) // 4) if legend else 0)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d">'
           % (width, height, width, height), "<title>%s</title>" % _e(title)]
    for tick in range(5):
        x = label_w + plot_w * tick / 4
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>'
                   % (x, top - 6, x, top + len(rows) * (bar_h + gap)))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, top - 10, _e(fmt(maximum * tick / 4))))
    for index, (label, parts) in enumerate(rows):
        y = top + index * (bar_h + gap)
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (label_w - 8, y + bar_h * 0.7, _e(label)))
        x = float(label_w)
        for key, value in parts:
            w = plot_w * value / maximum
            if w <= 0:
                continue
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>'
                       % (x, y, w, bar_h, colors.get(key, "#888"), _e(legend.get(key, key) if legend else label),
                          _e(fmt(value))))
            x += w
        out.append('<text x="%.1f" y="%.1f">%s</text>' % (x + 6, y + bar_h * 0.7,
                                                          _e(fmt(sum(v for _k, v in parts)))))
    if legend:
        y0 = top + len(rows) * (bar_h + gap) + 14
        for i, (key, name) in enumerate(legend.items()):
            x, y = 10 + (i % 4) * (width // 4), y0 + (i // 4) * 22
            out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (x, y, colors.get(key, "#888")))
            out.append('<text x="%d" y="%d">%s</text>' % (x + 18, y + 11, _e(name)))
    out.append("</svg>")
    return "".join(out)


def _figure(svg, caption):
    return "<figure>%s<figcaption>%s</figcaption></figure>" % (svg, _e(caption))


def render_html(estimate):
    names = labels(estimate)
    keys = service_keys(estimate)
    colors = _colors(estimate)
    tenants = estimate["tenants"]
    shared = estimate["shared_layer"]
    ref = estimate.get("reference")
    title = "Monthly cost estimate: %s" % estimate["env"]
    body = ["<h1>%s</h1>" % _e(title)]

    kpis = [(money(estimate["total"]), "per month"), (money(estimate["per_machine"]), "per machine and month"),
            ("%d / %d" % (len(tenants), estimate["machines"]), "tenants / machines")]
    if ref and ref.get("budget") and ref["applies"]:
        kpis.append((pct(ref["budget_used_pct"]), "of the %s budget" % money(ref["budget"]).replace(".00", "")))
    if ref and ref.get("expected") and ref["applies"]:
        cls = "ok" if ref["within_tolerance"] else "warn"
        kpis.append(('<span class="%s">%s</span>' % (cls, _e(pct(ref["delta_pct"], True))),
                     "vs the seed's ~%s" % money(ref["expected"]).replace(".00", "")))
    body.append('<div class="kpis">' + "".join(
        '<div class="kpi"><b>%s</b><span>%s</span></div>' % (v if v.startswith("<span") else _e(v), _e(t))
        for v, t in kpis) + "</div>")
    body.append("<ul>" + "".join("<li>%s</li>" % _e(line.replace("**", "")) for line in _summary_lines(estimate))
                + "</ul>")

    body.append("<h2>Where the money goes</h2>")
    ranked = estimate["drivers"]["services"]
    body.append(_figure(svg_bars("Monthly cost by service", [(d["label"], [(d["service"], d["monthly"])])
                                                             for d in ranked if d["monthly"] > 0], colors),
                        "USD per month by service, all scopes."))
    body.append(_html_table(["Service", "$/month", "Share", "Made of"],
                            [[d["label"], money(d["monthly"]), pct(d["share_pct"]),
                              _service_detail(estimate, d["service"])] for d in ranked]
                            + [["Total", money(estimate["total"]), "100.0 %", ""]], {1, 2}, total_last=True))

    body.append("<h2>Per tenant</h2>")
    rows = [("%s (%s)" % (t["tenant_id"], t["tier"]), [(k, t["by_service"][k]) for k in keys]) for t in tenants]
    if shared["unallocated"]:
        rows.append(("shared layer", [(k, shared["by_service"][k]) for k in keys]))
    body.append(_figure(svg_bars("Monthly cost per tenant by service", rows, colors, legend=names),
                        "Each tenant's own resources plus its part of the shared layer, stacked by service."))
    trows = [[t["tenant_id"], t["display_name"], t["tier"], t["machines"], money(t["own_total"]),
              money(t["shared_share"]), money(t["total"]), money(t["per_machine"])] for t in tenants]
    if shared["unallocated"]:
        trows.append(["shared layer", "no shared-tier tenant", "", "", money(shared["unallocated"]), "",
                      money(shared["unallocated"]), ""])
    trows.append(["Total", "", "", estimate["machines"], "", "", money(estimate["total"]),
                  money(estimate["per_machine"])])
    body.append(_html_table(["Tenant", "Name", "Tier", "Machines", "Own resources", "Share of shared layer", "Total",
                             "Per machine"], trows, {3, 4, 5, 6, 7}, total_last=True))
    header = ["Service", "Shared layer"] + [t["tenant_id"] for t in tenants] + ["Total"]
    srows = [[names[k], money(shared["by_service"][k])] + [money(t["own_by_service"][k]) for t in tenants]
             + [money(estimate["by_service"][k])] for k in keys]
    srows.append(["Total", money(shared["total"])] + [money(t["own_total"]) for t in tenants]
                 + [money(estimate["total"])])
    body.append("<details><summary>Per service and scope (shared layer before it is split)</summary>%s</details>"
                % _html_table(header, srows, set(range(1, len(header))), total_last=True))

    body.append("<h2>Shared or dedicated, per tenant</h2>")
    body.append('<p class="note">Every tenant priced both ways: shared (its part of the shared layer) and dedicated '
                "(its own right-sized data stores).</p>")
    tier_colors = {"shared": "#4e79a7", "dedicated": "#f28e2b"}
    rows = []
    for t in tenants:
        rows.append(("%s as shared" % t["tenant_id"], [("shared", t["if_shared"]["total"])]))
        rows.append(("%s as dedicated" % t["tenant_id"], [("dedicated", t["if_dedicated"]["total"])]))
    body.append(_figure(svg_bars("Shared versus dedicated per tenant", rows, tier_colors,
                                 legend={"shared": "shared tier", "dedicated": "dedicated tier"}),
                        "USD per month for each tenant on either tier."))
    body.append(_html_table(
        ["Tenant", "Tier now", "As shared", "As dedicated", "Dedicated premium", "Shared saves", "Cheaper",
         "Shared pays off from", "Dedicated sizing"],
        [[t["tenant_id"], t["tier"], money(t["if_shared"]["total"]), money(t["if_dedicated"]["total"]),
          money(t["dedicated_premium"], True), pct(t["shared_savings_pct"]), t["cheaper_tier"], break_even(t),
          "%s, %s, %s" % (t["if_dedicated"]["sizing"]["rds_instance_class"],
                          t["if_dedicated"]["sizing"]["msk_broker_type"],
                          t["if_dedicated"]["sizing"]["timescaledb_plan"])] for t in tenants], {2, 3, 4, 5, 7}))
    body.append('<p class="note">%s</p>' % _e(BREAK_EVEN_NOTE))

    body.append("<h2>The seed's shared-tier savings claims</h2>")
    rows, claim_colors = [], {"model": "#4e79a7", "like": "#76b7b2", "seed": "#bab0ac"}
    for r in estimate["savings"]:
        if r["service"] == "total":
            continue
        rows.append(("%s: model" % r["label"], [("model", max(r["savings_pct"], 0.0))]))
        rows.append(("%s: like for like" % r["label"], [("like", max(r["like_for_like_pct"], 0.0))]))
        if r["seed_claim_pct"] is not None:
            rows.append(("%s: seed" % r["label"], [("seed", r["seed_claim_pct"])]))
    body.append(_figure(svg_bars("Shared-tier savings: model versus the seed", rows, claim_colors,
                                 legend={"model": "model, right-sized dedicated", "like": "model, like for like",
                                         "seed": "seed's claim"}, fmt=lambda v: "%.0f %%" % v),
                        "Saving of all tenants shared versus all dedicated, per service."))
    body.append(_html_table(
        ["Service", "All shared", "All dedicated (right-sized)", "Model saves", "All dedicated (shared size)",
         "Saves (like for like)", "Seed claims", "Note"],
        [[r["label"], money(r["all_shared"]), money(r["all_dedicated"]), pct(r["savings_pct"]),
          money(r["all_dedicated_like_for_like"]), pct(r["like_for_like_pct"]),
          pct(r["seed_claim_pct"]) if r["seed_claim_pct"] is not None else "—", SEED_NOTES.get(r["service"], "")]
         for r in estimate["savings"]], {1, 2, 3, 4, 5, 6}))
    body.append("<ul>" + "".join("<li>%s</li>" % _e(x) for x in _savings_explanation(estimate)) + "</ul>")

    if ref and ref.get("expected") and ref["applies"]:
        body.append("<h2>Reference check: the seed's ~%s per month</h2>"
                    % _e(money(ref["expected"]).replace(".00", "")))
        body.append("<p>Model %s vs seed %s: %s (%s); tolerance ±%s: <b>%s</b>.</p>"
                    % (_e(money(estimate["total"])), _e(money(ref["expected"])), _e(money(ref["delta"], True)),
                       _e(pct(ref["delta_pct"], True)), _e(pct(ref["tolerance_pct"])),
                       "within" if ref["within_tolerance"] else "outside — explained line by line below"))
        body.append("<ul>" + "".join("<li>%s</li>" % _e(n) for n in _reference_notes(estimate)) + "</ul>")

    body.append("<h2>S3 data lake by storage class</h2>")
    s3_colors = {"STANDARD": "#4e79a7", "INTELLIGENT_TIERING": "#86bcb6", "STANDARD_IA": "#76b7b2",
                 "ONEZONE_IA": "#edc948", "GLACIER_IR": "#b07aa1", "GLACIER": "#9c755f", "DEEP_ARCHIVE": "#59a14f"}
    present = [k for k in s3_colors if any(k in t["s3"]["classes"] for t in tenants)]
    rows = [(t["tenant_id"], [(k, t["s3"]["classes"].get(k, 0.0)) for k in present]) for t in tenants]
    body.append(_figure(svg_bars("S3 GB by storage class per tenant", rows, s3_colors,
                                 legend={k: k for k in present}, fmt=lambda v: "%s GB" % number(round(v, 1))),
                        "GB under each tenant's prefix after %d days of ingestion, by lifecycle class."
                        % (tenants[0]["s3"]["data_age_days"] if tenants else 0)))

    body.append("<h2>Assumptions</h2>")
    body.append(_html_table(["Input", "Value"], _assumption_rows(estimate), {1}))
    items = _html_table(["Scope", "Service", "Item", "Quantity", "Unit", "Unit price", "$/month"],
                        [[li["scope"], names[li["service"]], li["item"], number(li["quantity"]), li["unit"],
                          unit_price(li["unit_price"]), money(li["monthly"])] for li in estimate["line_items"]],
                        {3, 5, 6})
    body.append("<details><summary>All %d line items</summary>%s</details>" % (len(estimate["line_items"]), items))
    prices = estimate["prices"]
    body.append('<p class="note">Price table as of %s (%s, %s): %s.</p>'
                % (_e(prices["as_of"]), _e(prices["region"]), _e(prices.get("status") or "estimate"),
                   _e(prices.get("source") or "")))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width, initial-scale=1"><title>%s</title><style>%s</style></head>\n<body>\n%s\n'
            "</body></html>\n" % (_e(title), CSS.strip(), "\n".join(body)))


FORMATS = {"markdown": markdown, "html": render_html}
