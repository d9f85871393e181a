"""The remote client's transport: one HTTP connection to a ``gwen serve``, its errors as GWEN's, its renders
followed while they run.

Contract:
- ``Transport(url, token)``: every request carries the bearer token. Connection failures are retried with
  backoff (``retries``), then raise ``RemoteError`` naming the URL; a request that gets no answer within
  ``timeout`` seconds (``render_timeout`` for renders) raises ``RemoteError`` too. 401 is ``RemoteError`` saying the
  token was rejected; other errors come back as the server's ``GwenError`` class with the server's message
  (``ModelUnavailable`` with its reason, Hub id and hint).
- ``render(path, body, on_step, on_preview, cancel)`` POSTs a render and, while the server works, follows
  ``/api/progress``: steps to ``on_step``, live previews to ``on_preview``. If the caller stops (an exception out
  of a callback, as Streamlit raises when Cancel is clicked) or ``cancel`` is set, the server is told to cancel:
  it then writes nothing.
- Imports nothing heavy: it runs in the light (``requirements-remote.txt``) install.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from typing import Any

import httpx

from gwen.errors import Cancelled, CatalogBusy, GwenError, ImageRejected, InvalidInput, ModelUnavailable, NotFound

POLL_SECONDS = 0.5


class RemoteError(GwenError):
    """The service could not be reached, or refused the token."""


ERRORS = {"NotFound": NotFound, "InvalidInput": InvalidInput, "ImageRejected": ImageRejected,
          "ModelUnavailable": ModelUnavailable, "CatalogBusy": CatalogBusy, "Cancelled": Cancelled,
          "DiskFull": GwenError, "RunnerBusy": GwenError}


class Transport:
    def __init__(self, url: str, token: str | None, timeout: float = 10.0, render_timeout: float = 900.0,
                 retries: int = 3):
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"remote url={url!r}: must start with http:// or https://")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.render_timeout = render_timeout
        self.retries = retries
        self._client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or ''}"})

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, render: bool = False, **kwargs) -> httpx.Response:
        timeout = httpx.Timeout(self.render_timeout if render else self.timeout, connect=self.timeout)
        delay = 0.25
        for attempt in range(self.retries + 1):
            try:
                response = self._client.request(method, path, timeout=timeout, **kwargs)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == self.retries:
                    raise RemoteError(f"GWEN service at {self.url} is unreachable after {attempt + 1} attempts "
                                      f"({type(exc).__name__}); is `python -m gwen serve` running there?") from None
                time.sleep(delay)
                delay *= 2
            except httpx.TimeoutException:
                raise RemoteError(f"GWEN service at {self.url} did not answer {method} {path} within "
                                  f"{timeout.read:g} s") from None
        if response.status_code == 401:
            raise RemoteError(f"GWEN service at {self.url} rejected the token (set GWEN_TOKEN or the "
                              "token in st.secrets to the server's)")
        if response.status_code >= 400:
            raise _error(response)
        return response

    def json(self, method: str, path: str, **kwargs) -> Any:
        return self.request(method, path, **kwargs).json()

    def render(self, path: str, body: dict[str, Any], on_step=None, on_preview=None, cancel=None) -> Any:
        if on_step is None and on_preview is None and cancel is None:
            return self.json("POST", path, json=body, render=True)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["data"] = self.json("POST", path, json=body, render=True)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
        worker = threading.Thread(target=call, daemon=True, name="gwen-remote-render")
        worker.start()
        serial, last = 0, (0, 0)
        try:
            while True:
                worker.join(POLL_SECONDS)
                if not worker.is_alive():
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the user; nothing from this job was written")
                state = self.json("GET", "/api/progress", params={"previews": bool(on_preview)})
                if on_step is not None and state.get("running") and state.get("total"):
                    last = (int(state["done"]), int(state["total"]))
                    on_step(*last)
                if on_preview is not None and state.get("preview_serial", 0) != serial and state.get("previews"):
                    serial = state["preview_serial"]
                    deliver_previews(state["previews"], on_preview)
        except BaseException:
            try:
                self.json("POST", "/api/cancel")
            except Exception:  # the server is gone: nothing more to stop
                pass
            raise
        if "error" in outcome:
            raise outcome["error"]
        if on_step is not None and last[1] and last[0] < last[1]:
            on_step(last[1], last[1])  # the last steps ran between two polls: a finished render shows finished
        return outcome["data"]


def _error(response: httpx.Response) -> GwenError:
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:300], "type": ""}
    fallback = NotFound if response.status_code == 404 else (
        InvalidInput if response.status_code < 500 else RemoteError)
    cls = ERRORS.get(body.get("type"), fallback)
    message = body.get("error") or f"HTTP {response.status_code}"
    if cls is ModelUnavailable:  # the server's reason, Hub id and the command to run on the server
        return ModelUnavailable(message, **{k: body.get(k) for k in ("model", "hub_id", "reason", "hint")})
    return cls(message)


def deliver_previews(encoded: dict[str, str], on_preview) -> None:
    from PIL import Image

    images = {int(k): Image.open(io.BytesIO(base64.b64decode(v))) for k, v in encoded.items()}
    first = min(images)
    run = []
    for index in range(first, first + len(images)):
        if index not in images:
            break
        run.append(images[index])
    on_preview(first, run)
