"""paperlib.parallel: results in job order whatever the schedule, worker failures named, bad
arguments refused. The workers are real spawn processes (a few seconds to start)."""

import math

import pytest

from paperlib.parallel import map_jobs, usable_cores


def test_in_process_and_pool_give_the_jobs_results_in_order():
    jobs = [12, 3, 7, 0, 5]
    expected = [math.factorial(j) for j in jobs]
    lines = []
    assert map_jobs(math.factorial, jobs, workers=1, log=lines.append) == expected
    assert len(lines) == len(jobs)
    pooled = map_jobs(math.factorial, jobs, workers=2, log=None, with_seconds=True)
    assert [r for r, _ in pooled] == expected
    assert all(s >= 0 for _, s in pooled)


def test_a_failing_job_is_named():
    with pytest.raises(RuntimeError, match=r"job -4 failed in a worker: ValueError"):
        map_jobs(math.sqrt, [4, -4, 9], workers=2, log=None)
    with pytest.raises(ValueError):  # in process: the job's own exception
        map_jobs(math.sqrt, [-1], workers=1, log=None)


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2"])
def test_bad_worker_counts_are_refused(workers):
    with pytest.raises(ValueError, match="workers"):
        map_jobs(math.factorial, [1], workers=workers)


def test_usable_cores():
    assert usable_cores() >= 1
