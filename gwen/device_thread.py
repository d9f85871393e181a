"""Every torch call of a process on one long-lived thread: ``device_thread().call(fn, ...)``.

Contract:
- ``run(fn, *args, **kwargs)``: ``fn`` on the device thread, its result or exception in the caller's.
- ``call(fn, *args, on_step=None, on_preview=None, cancel=None, **kwargs)`` runs ``fn`` on this process's one
  device thread and returns its result (or raises its exception) in the caller's thread. ``fn`` gets stand-ins
  for ``on_step`` / ``on_preview`` that queue each call, and the caller's thread runs the real callbacks while it
  waits (so a Streamlit page draws its progress from its own script thread), in order, all of them before
  ``call`` returns. ``fn`` gets its own ``cancel`` event: set when the caller's is, or when a callback raises
  (Streamlit stopping a run) or the caller is interrupted (Ctrl-C). The render then stops at its next step, and
  the callback's exception is raised in the caller once ``fn`` has returned: nothing is left running. A call made
  on the device thread itself runs inline.
- Why: on a CPU, PyTorch's OpenMP gives every thread that runs torch operations its own thread team, and once
  more than one team is alive (more OpenMP threads than cores) libgomp stops spinning at its barriers, so every
  parallel region pays a futex wake-up. The tiny model rendered 1.7-1.9x slower in a queue's worker thread than
  in a process's main thread for that reason (``docs/PERFORMANCE.md``, issue 16). Streamlit runs each page run,
  and the service each request, on a thread of its own; with one device thread they all share one team.
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

_POLL_SECONDS = 0.02  # how often a waiting caller looks at its cancel event
_DONE = object()


class DeviceThread:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gwen-device")
        self._thread_id: int | None = None
        self.pid = os.getpid()  # a thread does not survive a fork: a child must not wait on its parent's

    def _mark(self) -> None:
        self._thread_id = threading.get_ident()

    def on_device_thread(self) -> bool:
        return self._thread_id == threading.get_ident()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the device thread (no callbacks); an interrupt waits for it, then raises."""
        if self.on_device_thread():
            return fn(*args, **kwargs)

        def work() -> Any:
            self._mark()
            return fn(*args, **kwargs)
        future = self._pool.submit(work)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.exception()
            raise

    def call(self, fn: Callable[..., Any], *args: Any, on_step: Callable | None = None,
             on_preview: Callable | None = None, cancel: threading.Event | None = None, **kwargs: Any) -> Any:
        if self.on_device_thread():
            return fn(*args, on_step=on_step, on_preview=on_preview, cancel=cancel, **kwargs)
        events: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()

        def queued(callback: Callable | None) -> Callable | None:
            return None if callback is None else (lambda *a: events.put((callback, a)))

        def work() -> Any:
            self._mark()
            return fn(*args, on_step=queued(on_step), on_preview=queued(on_preview), cancel=stop, **kwargs)

        future = self._pool.submit(work)
        future.add_done_callback(lambda _: events.put(_DONE))  # wakes the caller at once
        raised = _serve_callbacks(future, events, stop, cancel)
        if raised is not None:
            future.exception()  # wait: the render stops at its next step
            raise raised
        return future.result()


def _serve_callbacks(future: Future, events: queue.SimpleQueue, stop: threading.Event,
                     cancel: threading.Event | None) -> BaseException | None:
    """Run the queued callbacks in this thread until ``future`` is done; the first exception they (or an
    interrupt) raise, after which the rest are dropped and ``stop`` is set."""
    raised: BaseException | None = None
    while True:
        if cancel is not None and cancel.is_set():
            stop.set()
        try:
            event = events.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue
        except BaseException as exc:  # KeyboardInterrupt while waiting
            raised = raised or exc
            stop.set()
            continue
        if event is _DONE:  # queued after every callback of the render
            return raised
        callback, args = event
        if raised is None:
            try:
                callback(*args)
            except BaseException as exc:  # StopException from Streamlit, a client gone, ...
                raised = exc
                stop.set()


_SHARED: DeviceThread | None = None
_SHARED_LOCK = threading.Lock()


def device_thread() -> DeviceThread:
    """This process's device thread (started on first use; a forked child starts its own)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED.pid != os.getpid():
            _SHARED = DeviceThread()
        return _SHARED
