"""site.yml -e env=local converges green twice; the second run changes nothing; --check changes nothing."""

def test_site_converges_and_is_idempotent(converged):
    first, second = converged
    assert first.failed_hosts == []
    assert second.changed == 0, second.changed_tasks()


def test_check_diff_makes_no_mutating_call(site_check_diff):
    run = site_check_diff.run
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.changed_tasks()
    assert site_check_diff.requests, "the preview made no request at all"
    assert site_check_diff.mutating == []


def test_check_diff_changes_no_database(site_check_diff):
    assert site_check_diff.databases_after == site_check_diff.databases_before
