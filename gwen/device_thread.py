"""Every torch call of a process on one long-lived thread: ``device_thread().call(fn, ...)``.

Contract:
- ``run(fn, *args, **kwargs)``: ``fn`` on the device thread, its result or exception in the caller's.
- ``call(fn, *args, on_step=None, on_preview=None, cancel=None, **kwargs)`` runs ``fn`` on this process's one
  device thread and returns its result (or raises its exception) in the caller's thread. ``fn`` gets stand-ins
  for ``on_step`` / ``on_preview``: each call is run by the caller's thread (so a Streamlit page draws its
  progress from its own script thread) while ``fn`` waits for it, as if it ran there. ``fn`` gets its own
  ``cancel`` event: set when the caller's is, when a callback raises (Streamlit stopping a run: the render stops
  at that step, and the exception is raised in the caller once the render has ended), or when the caller is
  interrupted (Ctrl-C: raised at once; the render stops at its next step). A call made on the device thread
  itself runs inline. The device thread is a daemon: an interrupted CLI exits without waiting for it (it writes
  no file; the asking threads do). A callback marked ``on_device_thread = True`` (thread-safe, no Streamlit: the
  queue runner's bookkeeping) runs on the device thread itself, inside the render, without waking the caller.
  While the render runs, the caller's thread sleeps until a callback or the end arrives (it wakes every
  ``_WAKE_SECONDS`` only to stay interruptible): a thread that wakes 50 times a second costs a 2-core CPU's render
  a few per cent.
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
from concurrent.futures import Future
from typing import Any, Callable

from gwen.errors import Cancelled

_POLL_SECONDS = 0.02  # how often the device thread, waiting for a callback, looks at the stop event
_WAKE_SECONDS = 0.25  # how often the caller's thread, waiting for the render, wakes (Ctrl-C)
CANCELLED = "cancelled by the user; nothing from this job was written"  # what the engine says too


class DeviceThread:
    def __init__(self) -> None:
        self.pid = os.getpid()  # a thread does not survive a fork: a child must not wait on its parent's
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        # A daemon: an interrupted CLI exits without waiting for a render that nobody will use (files are written
        # by the asking threads, never here, so nothing half-written is left behind).
        self._thread = threading.Thread(target=self._serve, name="gwen-device", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            fn, future = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)

    def on_device_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._work.put((fn, future))
        return future

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the device thread (no callbacks); an interrupt raises at once."""
        if self.on_device_thread():
            return fn(*args, **kwargs)
        return self._submit(lambda: fn(*args, **kwargs)).result()

    def call(self, fn: Callable[..., Any], *args: Any, on_step: Callable | None = None,
             on_preview: Callable | None = None, cancel: threading.Event | None = None, **kwargs: Any) -> Any:
        if self.on_device_thread():
            return fn(*args, on_step=on_step, on_preview=on_preview, cancel=cancel, **kwargs)
        bridge = _Bridge(cancel)
        future = self._submit(lambda: fn(*args, on_step=bridge.relay(on_step), on_preview=bridge.relay(on_preview),
                                         cancel=bridge.stop, **kwargs))
        try:
            bridge.serve(future)
        except BaseException:
            bridge.stop.set()  # the render stops at its next step; an interrupted CLI exits without waiting
            raise
        return future.result()


class _Bridge:
    """Callbacks of a render on the device thread, run in the asking thread one at a time: the render waits for
    each (as when it ran in the asking thread), so a callback that raises stops it at that very step."""

    def __init__(self, cancel: threading.Event | None):
        self.cancel = cancel
        self.stop = _Stop(cancel)
        self.calls: queue.SimpleQueue = queue.SimpleQueue()

    def relay(self, callback: Callable | None) -> Callable | None:
        if callback is None:
            return None
        if getattr(callback, "on_device_thread", False):
            return callback

        def relayed(*args: Any) -> None:
            handled = threading.Event()
            self.calls.put((callback, args, handled))
            while not handled.wait(_POLL_SECONDS):
                if self.stop.is_set():
                    raise Cancelled(CANCELLED)
            if self.stop.is_set():
                raise Cancelled(CANCELLED)
        return relayed

    def serve(self, future: Future) -> None:
        """Run the callbacks until the render is done; the first one that raises sets ``stop`` and is raised."""
        future.add_done_callback(lambda _: self.calls.put(None))
        while True:
            try:
                item = self.calls.get(timeout=_WAKE_SECONDS)
            except queue.Empty:
                continue
            if item is None:
                return
            callback, args, handled = item
            try:
                callback(*args)
            except BaseException:
                self.stop.set()
                handled.set()
                future.exception()  # the render has seen stop: wait for it to end before the caller goes on
                raise
            handled.set()


class _Stop(threading.Event):
    """The render's cancel event: set by the bridge, or by the caller's own event (read at each step)."""

    def __init__(self, caller: threading.Event | None):
        super().__init__()
        self.caller = caller

    def is_set(self) -> bool:
        return super().is_set() or (self.caller is not None and self.caller.is_set())


_SHARED: DeviceThread | None = None
_SHARED_LOCK = threading.Lock()


def device_thread() -> DeviceThread:
    """This process's device thread (started on first use; a forked child starts its own)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or _SHARED.pid != os.getpid():
            _SHARED = DeviceThread()
        return _SHARED
