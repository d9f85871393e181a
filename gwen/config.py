"""Where GWEN keeps its data and which settings are in force.

Contract:
- ``gwen_home(explicit)``: the ``--home`` flag, else ``$GWEN_HOME``, else
  ``./data``. The folder is created on first write, not here.
- ``Settings.load(home)``: ``$GWEN_HOME/settings.toml`` (optional), then the
  environment on top (``GWEN_MODEL``, ``GWEN_DEVICE``, ``GWEN_DTYPE``,
  ``GWEN_MAX_BATCH``, ``GWEN_UPSCALER``). Flags given to a command override both.
- ``save_setting(home, key, value)`` rewrites settings.toml atomically with one
  key changed (the dashboard's "use this model / upscaler from now on"); the
  other keys are kept as they were.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from gwen.errors import InvalidInput


KNOWN_SETTINGS = ("model", "device", "dtype", "max_batch", "upscaler")


def gwen_home(explicit: str | os.PathLike | None = None) -> Path:
    raw = explicit or os.environ.get("GWEN_HOME") or "data"
    return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the device's default preset
    device: str | None = None  # None: auto (cuda, mps, cpu)
    dtype: str | None = None  # None: fp16 on CUDA, fp32 elsewhere
    max_batch: int | None = None  # None: decided by gwen.memory
    upscaler: str | None = None  # None: the x4plus preset

    @classmethod
    def load(cls, home: Path) -> "Settings":
        settings = cls()
        path = home / "settings.toml"
        if path.exists():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise InvalidInput(f"{path}: not valid TOML ({exc})") from None
            unknown = set(data) - set(KNOWN_SETTINGS)
            if unknown:
                raise InvalidInput(f"{path}: unknown setting(s) {sorted(unknown)}; "
                                   f"known: {', '.join(KNOWN_SETTINGS)}")
            settings = replace(settings, **data)
        env = {
            "model": os.environ.get("GWEN_MODEL"),
            "device": os.environ.get("GWEN_DEVICE"),
            "dtype": os.environ.get("GWEN_DTYPE"),
            "max_batch": os.environ.get("GWEN_MAX_BATCH"),
            "upscaler": os.environ.get("GWEN_UPSCALER"),
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


def read_settings_file(home: Path) -> dict:
    path = home / "settings.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc})") from None


def save_setting(home: Path, key: str, value: str | int | None) -> Path:
    """Set (or, with None, remove) one key of ``$GWEN_HOME/settings.toml``; the file is replaced atomically."""
    from gwen.files import write_bytes_atomic

    if key not in KNOWN_SETTINGS:
        raise InvalidInput(f"setting {key!r}: unknown; known: {', '.join(KNOWN_SETTINGS)}")
    data = read_settings_file(home)
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    path = home / "settings.toml"
    lines = ["# GWEN settings (python -m gwen and the dashboard write this file; edit it freely)"]
    for name in KNOWN_SETTINGS:
        if name in data:
            item = data[name]
            # a TOML basic string accepts JSON's escapes (ensure_ascii keeps to \uXXXX)
            lines.append(f"{name} = {item if isinstance(item, int) and not isinstance(item, bool) else json.dumps(str(item))}")
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
