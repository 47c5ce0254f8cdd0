"""`make molecule` (scripts/molecule_all.py): which scenarios run, in which order, and that a failing scenario fails
the whole run with its log printed. Molecule itself is replaced by a script on PATH that the test writes (the real
scenarios run in `make test` against the local cloud)."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("molecule_all", ROOT / "scripts" / "molecule_all.py")
molecule_all = importlib.util.module_from_spec(spec)
sys.modules["molecule_all"] = molecule_all  # dataclasses look their module up there
spec.loader.exec_module(molecule_all)


def test_every_role_with_a_scenario_runs_biggest_converge_first():
    roles = molecule_all.scenarios("default", [])
    expected = sorted(p.parents[2].name for p in (ROOT / "roles").glob("*/molecule/default/molecule.yml"))
    assert sorted(roles) == expected and len(roles) >= 6
    weights = [molecule_all.converge_weight(role, "default") for role in roles]
    assert weights == sorted(weights, reverse=True)
    assert roles[0] == "compute"  # it converges every role before its own


def test_an_unknown_role_is_refused_by_name():
    with pytest.raises(SystemExit, match="no-such-role"):
        molecule_all.scenarios("default", ["network", "no-such-role"])


@pytest.fixture
def fake_molecule(tmp_path, monkeypatch):
    """A `molecule` on PATH that prints its role directory and fails in the storage role."""
    script = tmp_path / "molecule"
    script.write_text('#!/bin/sh\necho "fake molecule $* in $(basename "$PWD")"\n'
                      '[ "$(basename "$PWD")" = storage ] && exit 3\nexit 0\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(molecule_all, "LOG_DIR", tmp_path / "logs")
    return tmp_path


def test_a_failing_scenario_fails_the_run_and_its_log_is_printed(fake_molecule, capsys):
    assert molecule_all.main(["--jobs", "2", "network", "storage"]) == 1
    out, err = capsys.readouterr()
    assert "fake molecule test -s default in network" in out
    assert "fake molecule test -s default in storage" in out
    assert "storage FAILED (exit 3)" in out and "network passed" in out
    assert "1 scenario(s) failed: storage" in err
    assert (fake_molecule / "logs" / "storage.log").read_text().startswith("fake molecule")


def test_all_passing_scenarios_exit_zero(fake_molecule, capsys):
    assert molecule_all.main(["network"]) == 0
    assert "network    " in capsys.readouterr().out.split("== molecule summary")[1]
