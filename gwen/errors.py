"""GWEN's error hierarchy: every message is meant to be read by the user.

Contract:
- ``GwenError`` and its subclasses carry a message that names the offending
  value and the rule it broke; front ends show it as-is (CLI: stderr + exit 2,
  UI: ``st.error``, service: 4xx JSON).
- Raising one of these means *nothing was written*: callers validate before
  they touch files or the catalog.
- Anything that is not a ``GwenError`` is a bug or an environment failure
  (CLI exit 1).
"""


class GwenError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 2

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(GwenError, ValueError):
    """A parameter, filter, rating, size, ... broke a stated rule."""


class NotFound(GwenError, LookupError):
    """An image id (or other key) that is not in the catalog."""


class ModelUnavailable(GwenError):
    """A model could not be found or loaded (offline, bad path, bad file).

    ``model`` (the reference as given), ``hub_id``, ``reason`` (``offline``,
    ``unreachable``, ``gated``, ``missing``, ``outside``) and ``hint`` (the
    command that fetches it, on the machine that needs it) let a front end
    write its own advice; the message is the command line's. ``details()``
    are these fields for JSON, and the remote client rebuilds them.
    """

    def __init__(self, message: str, *, model: str | None = None, hub_id: str | None = None,
                 reason: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.model = model
        self.hub_id = hub_id
        self.reason = reason
        self.hint = hint

    def details(self) -> dict:
        return {k: v for k, v in (("model", self.model), ("hub_id", self.hub_id), ("reason", self.reason),
                                  ("hint", self.hint)) if v is not None}


class ImageRejected(GwenError):
    """A file offered for import or upscaling is not a usable image."""


class CatalogBusy(GwenError):
    """Another process holds the catalog's write lock."""


class DiskFull(GwenError):
    """The disk (or quota) under GWEN_HOME ran out while writing: what was being written was undone."""

    def __init__(self, where: object):
        super().__init__(f"no space left on device under {where}: free space and retry")
        self.where = str(where)


def disk_full(exc: BaseException, where: object) -> DiskFull | None:
    """``exc`` as DiskFull when it says the disk is full (an OSError's errno, or DuckDB's message), else None."""
    import errno

    if isinstance(exc, DiskFull):
        return exc
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(where)
    text = str(exc).lower()
    if "no space left on device" in text or "disk quota exceeded" in text:
        return DiskFull(where)
    return None


class Cancelled(GwenError):
    """The user cancelled a running job; nothing from it was written."""

    exit_code = 130
