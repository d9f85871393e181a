"""``RemoteStyles``: the prompt styles over HTTP, mixed into ``gwen.remote.RemoteStudio``.

Contract: the same members and parameters as the local facade's (``gwen.preferences``): the server's style book
is listed, saved to and imported into; a styles.csv travels as its text (bytes decoded by the same rule as
``gwen.styles.read_csv``); the server checks every value (``InvalidInput`` comes back as itself). Light: no torch.
"""

from __future__ import annotations

from typing import Any, Callable

from gwen.styles import csv_text


class RemoteStyles:
    _json: Callable[..., Any]  # RemoteStudio's: one HTTP call, InvalidInput and NotFound raised as themselves

    def list_styles(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/styles")["styles"]

    def save_style(self, name: str, prompt: str, negative_prompt: str = "") -> dict[str, Any]:
        return self._json("POST", "/api/styles", json={"name": name, "prompt": prompt,
                                                       "negative_prompt": negative_prompt})

    def import_styles(self, text: str | bytes, name: str = "styles.csv") -> dict[str, Any]:
        return self._json("POST", "/api/styles/import", json={"csv": csv_text(text, name), "name": name})
