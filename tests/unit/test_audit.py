"""`make audit` (scripts/audit.py): the mutelist is well-formed and documented, and the summary counts Prowler's
OCSF findings right. The scan itself needs Prowler (its own venv) and is not part of make test."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("audit", ROOT / "scripts" / "audit.py")
audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(audit)


def finding(check, status, muted=False, uid="arn:aws:s3:::bucket", detail="why"):
    return {"metadata": {"event_code": check}, "status_code": status, "status": "Suppressed" if muted else "New",
            "resources": [{"uid": uid}], "status_detail": detail}


def test_every_muted_check_has_a_kind_and_a_reason():
    checks = audit.load_mutelist()
    assert len(checks) > 20
    for name, entry in checks.items():
        kind, reason = entry["Description"].split(":", 1)
        assert kind in audit.KINDS and len(reason.strip()) > 20, name
        assert entry["Regions"] and entry["Resources"], name


def test_every_muted_check_is_explained_in_docs_security():
    doc = (ROOT / "docs" / "security.md").read_text()
    missing = [name for name in audit.load_mutelist() if "`%s`" % name not in doc]
    assert missing == []


def test_a_description_without_kind_is_refused(tmp_path):
    bad = tmp_path / "mutelist.yaml"
    bad.write_text('Mutelist:\n  Accounts:\n    "*":\n      Checks:\n        "x_check":\n'
                   '          Regions: ["*"]\n          Resources: ["*"]\n          Description: "because"\n')
    with pytest.raises(SystemExit, match="x_check"):
        audit.load_mutelist(bad)


def test_summary_counts_per_service_and_lists_open_fails_only():
    summary = audit.summarize([
        finding("s3_bucket_object_lock", "FAIL", muted=True),
        finding("s3_bucket_default_encryption", "PASS"),
        finding("rds_instance_multi_az", "FAIL", uid="arn:aws:rds:us-east-1:1:db:b"),
        finding("rds_instance_multi_az", "FAIL", uid="arn:aws:rds:us-east-1:1:db:a"),
        {"metadata": {"event_code": "iam_manual"}, "status_code": "MANUAL", "status": "New"},
    ])
    assert summary["services"] == {"s3": {"MUTED": 1, "PASS": 1}, "rds": {"FAIL": 2}}
    assert summary["totals"] == {"MUTED": 1, "PASS": 1, "FAIL": 2}
    resources = [f["resource"] for f in summary["open_fails"]]
    assert resources == ["arn:aws:rds:us-east-1:1:db:a", "arn:aws:rds:us-east-1:1:db:b"]


def test_main_exits_1_on_an_open_fail_and_0_without(tmp_path, capsys):
    report = tmp_path / "prowler.ocsf.json"
    report.write_text(json.dumps([finding("s3_bucket_object_lock", "FAIL", muted=True)]))
    assert audit.main(["--reuse", str(report)]) == 0
    report.write_text(json.dumps([finding("apigateway_restapi_waf_acl_attached", "FAIL")]))
    assert audit.main(["--reuse", str(report), "--summary-json", str(tmp_path / "s.json")]) == 1
    assert "apigateway_restapi_waf_acl_attached" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["totals"] == {"FAIL": 1}
