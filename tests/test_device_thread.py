"""One device thread per process (``gwen.device_thread``): every render runs there, whichever thread asks; the
callbacks run in the asking thread, in order, the render waiting for each; a callback that raises or a cancel
stops the render, and nothing is left running when the call returns. The speed it buys is in
docs/PERFORMANCE.md (bench/queue_throughput.py)."""

from __future__ import annotations

import threading
import time

import pytest

from gwen.device_thread import DeviceThread, device_thread
from gwen.errors import Cancelled


def fake_render(steps: int, seen: dict, *, on_step=None, on_preview=None, cancel=None):
    seen["thread"] = threading.current_thread().name
    for k in range(1, steps + 1):
        if cancel is not None and cancel.is_set():
            seen["stopped_at"] = k
            raise Cancelled("cancelled")
        time.sleep(0.005)
        seen["last"] = k
        if on_step:
            on_step(k, steps)
        if on_preview and k % 2 == 0:
            on_preview(k, [f"preview {k}"])
    return f"rendered {steps}"


def test_work_runs_on_the_device_thread_and_callbacks_in_the_callers_in_order():
    device = DeviceThread()
    seen: dict = {}
    calls: list = []

    def on_step(done, total):
        calls.append(("step", done, threading.current_thread().name))

    result = device.call(fake_render, 6, seen, on_step=on_step,
                         on_preview=lambda first, images: calls.append(("preview", first, images)))
    assert result == "rendered 6" and seen["thread"].startswith("gwen-device")
    assert [c[1] for c in calls if c[0] == "step"] == [1, 2, 3, 4, 5, 6]  # every one, in order, before returning
    assert {c[2] for c in calls if c[0] == "step"} == {threading.current_thread().name}
    assert [c[1] for c in calls if c[0] == "preview"] == [2, 4, 6]


def test_every_thread_that_asks_gets_the_same_device_thread():
    names: set = set()

    def ask() -> None:
        seen: dict = {}
        device_thread().call(fake_render, 1, seen)
        names.add(seen["thread"])
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ask()
    assert len(names) == 1 and device_thread() is device_thread()


def test_a_callback_that_raises_stops_the_render_and_its_exception_reaches_the_caller():
    class StopRun(Exception):  # what Streamlit raises in a page's thread when the user clicks elsewhere
        pass

    seen: dict = {}

    def on_step(done, total):
        if done == 2:
            raise StopRun()
    with pytest.raises(StopRun):
        DeviceThread().call(fake_render, 50, seen, on_step=on_step)
    assert seen["last"] == 2  # the render waited for that callback and stopped at that very step, before returning


def test_the_callers_cancel_event_reaches_the_render():
    cancel = threading.Event()
    seen: dict = {}
    threading.Timer(0.05, cancel.set).start()
    with pytest.raises(Cancelled):
        DeviceThread().call(fake_render, 200, seen, cancel=cancel)
    assert seen["stopped_at"] < 200


def test_errors_come_back_as_themselves_and_a_call_from_the_device_thread_runs_inline():
    device = DeviceThread()

    def fails(*, on_step=None, on_preview=None, cancel=None):
        raise ValueError("bad value")
    with pytest.raises(ValueError, match="bad value"):
        device.call(fails)

    def nested():
        return device.run(lambda: threading.current_thread().name)  # would deadlock if it queued
    assert device.run(nested).startswith("gwen-device")


def test_a_real_render_from_another_thread_matches_one_from_this_thread(shared_engine, tiny_sd):
    import numpy as np

    from gwen.params import ImageParams

    params = [ImageParams.build(prompt="a lighthouse", model=tiny_sd, steps=2, width=64, height=64, seed=5)]
    here = shared_engine.render(params)[0].image
    there: list = []
    worker = threading.Thread(target=lambda: there.append(shared_engine.render(params)[0].image))
    worker.start()
    worker.join()
    assert np.array_equal(np.asarray(here), np.asarray(there[0]))


def test_a_forked_child_gets_its_own_device_thread_instead_of_waiting_on_its_parents():
    import os
    import signal

    device_thread().run(lambda: None)  # the parent's thread exists
    pid = os.fork()
    if pid == 0:  # the child: the parent's device thread is not here
        signal.alarm(20)  # a hang ends the child instead of the test run
        os._exit(0 if device_thread().run(lambda: 42) == 42 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_cancel_set_from_a_callback_says_what_the_engine_says():
    from gwen.device_thread import CANCELLED

    cancel = threading.Event()
    with pytest.raises(Cancelled, match="cancelled by the user") as caught:
        DeviceThread().call(fake_render, 50, {}, cancel=cancel, on_step=lambda done, total: cancel.set())
    assert str(caught.value) == CANCELLED


def test_a_callback_marked_for_the_device_thread_runs_there_inside_the_render():
    device = DeviceThread()
    seen: dict = {}
    threads: list = []

    def on_step(done, total):
        threads.append(threading.current_thread().name)
    on_step.on_device_thread = True
    assert device.call(fake_render, 4, seen, on_step=on_step) == "rendered 4"
    assert threads == [seen["thread"]] * 4 and seen["thread"].startswith("gwen-device")
