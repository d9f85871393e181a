"""The one watched render of a served studio: its progress, its latest previews, and a way to cancel it.

Contract: ``Progress.run(what, work)`` runs ``work(on_step, cancel, on_preview)`` as the render that
``/api/progress`` reports (steps done and total, the live previews as base64 PNGs when asked) and
``/api/cancel`` stops (the engine raises ``Cancelled`` at its next step and nothing is written).
"""

from __future__ import annotations

import base64
import io
import threading
from typing import Any, Callable


class Progress:
    def __init__(self):
        self.lock = threading.Lock()
        self.state = self._idle()
        self.cancel = threading.Event()

    @staticmethod
    def _idle() -> dict[str, Any]:
        return {"running": False, "done": 0, "total": 0, "what": None, "previews": {}, "preview_serial": 0}

    def run(self, what: str, work: Callable[..., Any]) -> Any:
        self.cancel.clear()
        with self.lock:
            self.state = {**self._idle(), "running": True, "what": what}
        try:
            return work(self._on_step, self.cancel, self._on_preview)
        finally:
            with self.lock:
                self.state = self._idle()

    def _on_step(self, done: int, total: int) -> None:
        with self.lock:
            self.state.update(done=done, total=total)

    def _on_preview(self, first: int, images: list) -> None:
        encoded = {}
        for offset, image in enumerate(images):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            encoded[str(first + offset)] = base64.b64encode(buffer.getvalue()).decode()
        with self.lock:
            self.state["previews"] = {**self.state["previews"], **encoded}
            self.state["preview_serial"] += 1

    def snapshot(self, previews: bool) -> dict[str, Any]:
        with self.lock:
            state = dict(self.state)
        return state if previews else {k: v for k, v in state.items() if k != "previews"}
