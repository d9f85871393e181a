"""Where GWEN keeps its data and which settings are in force.

Contract:
- ``gwen_home(explicit)``: the ``--home`` flag, else ``$GWEN_HOME``, else
  ``./data``. The folder is created on first write, not here.
- ``Settings.load(home)``: ``$GWEN_HOME/settings.toml`` (optional), then the
  environment on top (``GWEN_MODEL``, ``GWEN_DEVICE``, ``GWEN_DTYPE``,
  ``GWEN_MAX_BATCH``). Flags given to a command override both.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from gwen.errors import InvalidInput


def gwen_home(explicit: str | os.PathLike | None = None) -> Path:
    raw = explicit or os.environ.get("GWEN_HOME") or "data"
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the device's default preset
    device: str | None = None  # None: auto (cuda, mps, cpu)
    dtype: str | None = None  # None: fp16 on CUDA, fp32 elsewhere
    max_batch: int | None = None  # None: decided by gwen.memory

    @classmethod
    def load(cls, home: Path) -> "Settings":
        settings = cls()
        path = home / "settings.toml"
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise InvalidInput(f"{path}: not valid TOML ({exc})") from None
            unknown = set(data) - {"model", "device", "dtype", "max_batch"}
            if unknown:
                raise InvalidInput(f"{path}: unknown setting(s) {sorted(unknown)}; "
                                   "known: model, device, dtype, max_batch")
            settings = replace(settings, **data)
        env = {
            "model": os.environ.get("GWEN_MODEL"),
            "device": os.environ.get("GWEN_DEVICE"),
            "dtype": os.environ.get("GWEN_DTYPE"),
            "max_batch": os.environ.get("GWEN_MAX_BATCH"),
        }
        env = {k: v for k, v in env.items() if v}
        if "max_batch" in env:
            try:
                env["max_batch"] = int(env["max_batch"])
            except ValueError:
                raise InvalidInput(f"GWEN_MAX_BATCH={env['max_batch']!r}: must be a positive integer") from None
        settings = replace(settings, **env)
        if settings.max_batch is not None and settings.max_batch < 1:
            raise InvalidInput(f"max_batch={settings.max_batch}: must be a positive integer")
        if settings.device is not None and settings.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise InvalidInput(f"device={settings.device!r}: must be cpu, cuda, cuda:N or mps")
        if settings.dtype is not None and settings.dtype not in ("float32", "float16", "bfloat16"):
            raise InvalidInput(f"dtype={settings.dtype!r}: must be float32, float16 or bfloat16")
        return settings
