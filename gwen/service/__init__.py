"""``python -m gwen serve``: the facade over HTTP (FastAPI), for a dashboard or CLI on another machine.

Contract:
- ``gwen.http_guard.Guard`` stands in front of every route: the token
  (``Authorization: Bearer <token>``, or HTTP Basic with the token as the
  password) is checked from the headers before any body is read, compared in
  constant time; a missing or wrong token gets 401 and nothing is done. Only
  ``/api/health`` is public. Bodies over ``max_body`` bytes get 413, whether
  declared or chunked, counted as they stream. The server refuses to bind a
  non-loopback address without a token; on loopback without one it makes a
  random token and saves it (0600) in ``$GWEN_HOME/service.token``. A token
  (file or ``GWEN_TOKEN``) has at least 16 characters.
- The served studio is confined to ``$GWEN_HOME/models``
  (``gwen.boundary``): whatever path a request, a record or a batch names,
  no model or upscaler file outside it is opened, and every refusal reads the
  same whatever is at that path.
- Every error is JSON ``{"error": message, "type": kind}``: 400 for invalid
  values or files, 422 for a malformed request, 404 for unknown ids (also any
  id that is not a well-formed id: no path from a request reaches the
  filesystem), 503 when the catalog stays busy, 409 when a job was cancelled,
  507 when the disk is full, 500 (without details) for a bug.
- One router per resource: ``routes_images``, ``routes_library``, ``routes_render``,
  ``routes_queue`` and ``routes_settings`` (health, defaults, models); each
  calls the studio's public methods only.
- Routes return the same JSON shapes as the CLI (``{"images": [...]}``,
  records as ``ImageRecord.to_dict()``); image and thumbnail bytes come from
  ``/api/images/{id}/file`` and ``/thumbnail``. ``/api/progress`` reports the
  running render, ``/api/cancel`` stops it. /docs, /redoc and /openapi.json
  exist only with ``--api-docs`` (and then behind the token).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from gwen.service.app import MAX_BODY, create_app, install_error_handlers, status_for  # noqa: F401
from gwen.service.auth import MIN_TOKEN, is_loopback, load_token  # noqa: F401


def serve(studio, host: str, port: int, token_file: str | None, api_docs: bool = False,
          health: Callable[[], dict[str, Any]] | None = None) -> None:
    import uvicorn

    token, source = load_token(studio.home, host, token_file)
    print(f"GWEN service on http://{host}:{port} (token from {source})"
          + ("; OpenAPI at /docs (behind the token)" if api_docs else ""), file=sys.stderr, flush=True)
    uvicorn.run(create_app(studio, token, api_docs=api_docs, health=health), host=host, port=port,
                log_level="warning")
