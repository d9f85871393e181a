"""Hugging Face Hub models: is one on this machine, can the Hub be reached, which command fetches it.

Contract:
- ``cached_snapshot(repo)``: the local snapshot folder of ``repo`` that holds a
  ``model_index.json``, or None. Reads the Hugging Face cache only: no network.
- ``probe(repo, timeout)``: returns when the Hub answers for ``repo`` within
  ``timeout`` seconds (``GWEN_HUB_TIMEOUT``, default 3); otherwise raises
  ``ModelUnavailable`` with ``reason`` ``"offline"`` (HF_HUB_OFFLINE is set),
  ``"unreachable"`` (no answer: DNS, refused, timed out), ``"gated"`` (a token
  is needed) or ``"missing"`` (no such repository). One request, no retries:
  an offline machine learns it in seconds, not after half a minute of the
  download code's retries.
- ``download_command(repo)``: the shell command that downloads ``repo`` with
  the tools installed next to this Python (``hf``, else ``huggingface-cli``,
  else a ``python -c`` one-liner).
- ``availability(ref, models)``: what a model reference needs before it can
  render, without network: ``ready`` (local folder or file, or cached),
  ``download`` (a Hub id not in the cache), ``builds`` (the tiny demo, built
  on first use) or ``missing`` (a path that does not exist).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from gwen.errors import ModelUnavailable

DEFAULT_TIMEOUT = 3.0
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def timeout() -> float:
    try:
        return max(0.1, float(os.environ.get("GWEN_HUB_TIMEOUT", DEFAULT_TIMEOUT)))
    except ValueError:
        return DEFAULT_TIMEOUT


def cached_snapshot(repo: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, "model_index.json")
    except Exception:  # a malformed repo id, an unreadable cache: not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


def download_command(repo: str) -> str:
    folder = Path(sys.executable).parent
    for tool, command in (("hf", f"hf download {repo}"), ("huggingface-cli", f"huggingface-cli download {repo}")):
        if (folder / tool).exists() or shutil.which(tool):
            return command
    return f"python -c \"from huggingface_hub import snapshot_download; snapshot_download('{repo}')\""


_REACHED: dict[str, float] = {}  # repo -> when the Hub last answered for it (a second check costs nothing)


def probe(repo: str, ref: str | None = None, seconds: float | None = None) -> None:
    """Raise ModelUnavailable unless the Hub answers for ``repo`` within ``seconds`` (DNS included: the request
    runs in a thread that is given up on, since a resolver that drops packets ignores socket timeouts)."""
    import threading
    import time

    ref = ref or repo
    if offline():
        raise unavailable(ref, repo, "offline", "HF_HUB_OFFLINE is set")
    if time.monotonic() - _REACHED.get(repo, -1e9) < 300:
        return
    limit = seconds or timeout()
    outcome: dict = {}

    def ask() -> None:
        try:
            outcome["answer"] = _ask_hub(repo, limit)
        except Exception as exc:  # httpx errors: DNS, refused, timed out, proxy
            outcome["error"] = exc
    worker = threading.Thread(target=ask, daemon=True, name="gwen-hub-probe")
    worker.start()
    worker.join(limit + 0.5)
    if worker.is_alive():
        raise unavailable(ref, repo, "unreachable", f"no answer within {limit:g} s")
    if "error" in outcome:
        exc = outcome["error"]
        raise unavailable(ref, repo, "unreachable", f"{type(exc).__name__}: {_first_line(exc) or 'no answer'}")
    status = outcome["answer"]
    if status in (401, 403):
        raise unavailable(ref, repo, "gated", "the repository is gated or private: accept its licence on "
                          "huggingface.co and log in with `hf auth login`")
    if status == 404:
        raise unavailable(ref, repo, "missing", "no such repository on the Hub")
    if status >= 400:
        raise unavailable(ref, repo, "unreachable", f"the Hub answered HTTP {status}")
    _REACHED[repo] = time.monotonic()


def _ask_hub(repo: str, limit: float) -> int:
    import httpx
    from huggingface_hub import constants, get_token

    token = get_token()
    answer = httpx.get(f"{constants.ENDPOINT.rstrip('/')}/api/models/{repo}", timeout=limit,
                       headers={"Authorization": f"Bearer {token}"} if token else None, follow_redirects=True)
    return answer.status_code


def cache_folder() -> str:
    """Where this machine's Hugging Face cache is (HF_HUB_CACHE / HF_HOME honoured)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def unavailable(ref: str, repo: str, reason: str, detail: str) -> ModelUnavailable:
    """The CLI's message (the dashboard writes its own from ``model``, ``hub_id`` and ``reason``)."""
    where = {"offline": "the Hub is off limits (HF_HUB_OFFLINE is set)",
             "unreachable": f"the Hugging Face Hub cannot be reached ({detail})",
             "gated": detail, "missing": detail}[reason]
    named = f"{ref!r} ({repo})" if ref != repo else repr(repo)
    message = (f"model {named} is not in this machine's Hugging Face cache and {where}. "
               f"Download it where there is network with `{download_command(repo)}` and copy the cache "
               f"({cache_folder()}) here, or point --model at a local diffusers folder or a "
               f".safetensors/.ckpt file; `--model tiny` runs the offline demo model.")
    return ModelUnavailable(message, model=ref, hub_id=repo, reason=reason, hint=download_command(repo))


def availability(ref: str, models) -> str:
    """``ready``, ``download``, ``builds`` or ``missing`` for a model reference (no network). ``models``: the
    models folder or its ``ModelBoundary``; a reference the boundary refuses raises its (uniform) refusal."""
    from gwen.boundary import ModelBoundary
    from gwen.presets import preset_named

    boundary = ModelBoundary.of(models)
    preset = preset_named(ref)
    if preset is not None and preset.ref == "tiny":
        return "ready" if (boundary.models_dir / "tiny-sd" / "model_index.json").exists() else "builds"
    if preset is None:
        try:
            if boundary.locate(ref, "model") is not None:
                return "ready"
        except ModelUnavailable as exc:
            if exc.reason == "outside":
                raise
            return "missing"
        if not HUB_ID.match(ref):
            return "missing"  # neither a preset, nor a file here, nor an owner/name Hub id (e.g. an A1111 name)
    return "ready" if cached_snapshot(preset.ref if preset is not None else ref) else "download"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
