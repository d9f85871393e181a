"""Where the service's token comes from, and whether an address stays on this machine.

Contract: ``load_token(home, host, token_file)`` returns ``(token, where it came from)``: the token file, else
``GWEN_TOKEN``, else (on a loopback host only) ``$GWEN_HOME/service.token``, made once with a random token
(mode 0600). A token has at least ``MIN_TOKEN`` characters; a non-loopback host without one is refused
(``InvalidInput``: the CLI exits 2).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from gwen.errors import InvalidInput

MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(home: Path, host: str, token_file: str | None) -> tuple[str, str]:
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise InvalidInput(f"token file {token_file!r}: no such file")
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < MIN_TOKEN:
            raise InvalidInput(f"token file {token_file!r}: the token must be at least {MIN_TOKEN} characters "
                               f"(it has {len(token)})")
        return token, str(path)
    if os.environ.get("GWEN_TOKEN"):
        token = os.environ["GWEN_TOKEN"].strip()
        if len(token) < MIN_TOKEN:
            raise InvalidInput(f"GWEN_TOKEN: the token must be at least {MIN_TOKEN} characters (it has {len(token)})")
        return token, "GWEN_TOKEN"
    if not is_loopback(host):
        raise InvalidInput(f"host={host!r}: serving beyond this machine needs a token "
                           "(--token-file FILE or GWEN_TOKEN)")
    path = home / "service.token"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip(), str(path)
