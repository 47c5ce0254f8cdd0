"""site.yml -e env=local converges green twice; the second run changes nothing; --check changes nothing."""

from support.playbook import run_playbook


def test_site_converges_and_is_idempotent(converged):
    first, second = converged
    assert first.failed_hosts == []
    assert second.changed == 0, second.changed_tasks()


def test_check_diff_makes_no_mutating_call(converged, request_log):
    mark = request_log.mark()
    run = run_playbook("site.yml", "-e", "env=local", "--check", "--diff")
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.changed_tasks()
    assert request_log.mutating_since(mark) == []
