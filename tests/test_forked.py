"""ForkPool: tasks in forked processes write into shared memory, finish in submission order, report their errors
in one line and are killed with the block that started them; with one process they run here."""

import os
import signal

import numpy as np
import pytest

from liger_iris_pipeline.forked import CAN_FORK, ForkPool, SlotArrays, shared_array

needs_fork = pytest.mark.skipif(not CAN_FORK, reason="tasks run in forked processes on Linux only")


def fill(array, value):
    array[...] = value


def fail():
    raise ValueError("frame_0003_cal.fits: bad pixel map")


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def wait_forever(pid, ready, never):
    """Say which process this is, say it is ready, then block on a pipe that never gets data."""
    pid[0] = os.getpid()
    os.write(ready, b"x")
    os.read(never, 1)


@needs_fork
def test_children_write_into_shared_memory_and_finish_in_submission_order():
    outputs = [shared_array((3, 4), np.float32) for _ in range(5)]
    finished = []
    with ForkPool(2) as pool:
        for index, output in enumerate(outputs):
            pool.submit(fill, output, index + 1, then=lambda index=index: finished.append((index, float(outputs[index][0, 0]))))
    assert finished == [(index, index + 1.0) for index in range(5)]  # each then() saw its child's result
    assert all((output == index + 1).all() for index, output in enumerate(outputs))


@needs_fork
def test_a_child_process_does_not_see_what_the_parent_changes_after_the_fork():
    private, shared = np.zeros(4), shared_array((4,), np.float64)
    with ForkPool(2) as pool:
        pool.submit(fill, private, 7.0)  # written in the child's copy only
        pool.submit(fill, shared, 7.0)
    assert (private == 0).all() and (shared == 7).all()


@needs_fork
def test_a_failing_child_raises_its_error_in_one_line():
    with pytest.raises(ChildProcessError, match=r"^ValueError: frame_0003_cal.fits: bad pixel map$"):
        with ForkPool(2) as pool:
            pool.submit(fail)
            pool.drain()


@needs_fork
def test_a_child_killed_by_a_signal_is_reported():
    with pytest.raises(ChildProcessError, match="signal 9"):
        with ForkPool(2) as pool:
            pool.submit(die)
            pool.drain()


@needs_fork
def test_leaving_the_block_by_an_error_kills_and_reaps_the_children():
    pid = shared_array((1,), np.int64)
    ready_read, ready_write = os.pipe()
    never_read, never_write = os.pipe()
    try:
        with pytest.raises(RuntimeError, match="step failed"):
            with ForkPool(2) as pool:
                pool.submit(wait_forever, pid, ready_write, never_read)
                assert os.read(ready_read, 1) == b"x"  # the child runs
                raise RuntimeError("step failed")
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid[0]), 0)  # killed and reaped: no such process
    finally:
        for descriptor in (ready_read, ready_write, never_read, never_write):
            os.close(descriptor)


def test_one_process_runs_each_task_here_when_submitted():
    private, finished = np.zeros(2), []
    with ForkPool(1) as pool:
        pool.submit(fill, private, 3.0, then=lambda: finished.append(private.copy()))
        assert finished and (finished[0] == 3).all()
    with pytest.raises(ValueError, match="bad pixel map"):
        ForkPool(1).submit(fail)


@needs_fork
def test_a_slot_is_given_again_only_once_its_task_has_finished():
    first, second = shared_array((2,), np.float64), shared_array((2,), np.float64)
    with ForkPool(2) as pool:
        slot_a = pool.reserve()
        assert pool.reserve() == slot_a  # reserved until a task takes it
        pool.submit(fill, first, 1.0)
        slot_b = pool.reserve()
        assert slot_b != slot_a  # slot_a's task may still run
        pool.submit(fill, second, 2.0)
        assert pool.reserve() == slot_a  # both busy: the oldest task is waited for, its slot is free
        assert (first == 1).all()  # and its result is there
        pool.submit(fill, first, 3.0)
    assert (first == 3).all() and (second == 2).all()


def test_kept_arrays_are_the_same_for_the_same_slot_name_and_shape():
    kept = SlotArrays()
    array = kept.of(0)("pixmap", (4, 4, 2), np.float64)
    assert kept.get(0, "pixmap", (4, 4, 2), np.float64) is array
    assert kept.of(1)("pixmap", (4, 4, 2), np.float64) is not array
    assert kept.of(0)("pixmap", (8, 4, 2), np.float64).shape == (8, 4, 2)
