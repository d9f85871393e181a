"""Streamlit widgets shared by the pages: settings form, image grid with actions, progress, breadcrumb.

Contract: widgets read and write ``st.session_state`` and call the ``Studio``;
they hold no GWEN logic of their own. Every call that can fail on user input
goes through ``guarded``, which shows the ``GwenError`` message with
``st.error`` (nothing is written when that happens).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Callable

import streamlit as st

from gwen.records import ImageRecord
from gwen.errors import GwenError
from gwen.params import MAX_SEED, SCHEDULERS
from gwen.presets import MODEL_PRESETS, preset_for

if TYPE_CHECKING:
    from gwen.studio import Studio

ASPECTS = {"1:1": (1, 1), "3:2": (3, 2), "2:3": (2, 3), "16:9": (16, 9), "9:16": (9, 16), "4:5": (4, 5)}
PICKS = "gwen_picks"  # the chain of picks of this browser session: [(image id, what was done)]


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; show a GwenError as ``st.error`` and return None instead of raising."""
    try:
        return action()
    except GwenError as exc:
        st.error(str(exc))
        return None


def model_choice(studio: Studio, key: str = "model") -> str:
    """Preset, Hugging Face id or local path; the tiny offline demo is always offered."""
    labels = {name: f"{p.label}" for name, p in MODEL_PRESETS.items()}
    options = [*MODEL_PRESETS, "other…"]
    default = st.session_state.get(f"{key}_default") or studio.default_model()
    choice = st.selectbox("Model", options, index=options.index(default) if default in options else len(options) - 1,
                          format_func=lambda n: labels.get(n, "Other: Hugging Face id, folder or checkpoint"),
                          key=f"{key}_preset")
    if choice == "other…":
        return st.text_input("Model id or path", key=f"{key}_custom",
                             value="" if default in options else default).strip()
    return choice


def generation_settings(studio: Studio, prefill: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Generate form's advanced settings, defaulting to the chosen model's preset."""
    prefill = prefill or {}
    model = model_choice(studio)
    preset = preset_for(model)
    with st.expander("Advanced settings", expanded=bool(prefill)):
        cols = st.columns(4)
        steps = cols[0].number_input("Steps", 1, 150, int(prefill.get("steps") or (preset.steps if preset else 25)))
        guidance = cols[1].number_input("Guidance (CFG)", 0.0, 30.0,
                                        float(prefill.get("guidance", preset.guidance if preset else 7.0)), step=0.5)
        scheduler = cols[2].selectbox("Scheduler", SCHEDULERS, index=SCHEDULERS.index(
            prefill.get("scheduler") or (preset.scheduler if preset else "Euler a")))
        n = cols[3].number_input("Images (N)", 1, 16, 4)
        size_cols = st.columns(3)
        base = int(prefill.get("width") or (preset.size if preset else 512))
        aspect = size_cols[0].selectbox("Aspect", [*ASPECTS, "custom"], index=0 if not prefill else len(ASPECTS))
        if aspect == "custom":
            width = size_cols[1].number_input("Width", 8, 2048, base, step=8)
            height = size_cols[2].number_input("Height", 8, 2048, int(prefill.get("height") or base), step=8)
        else:
            w, h = ASPECTS[aspect]
            scale = (base * base / (w * h)) ** 0.5
            width, height = int(round(w * scale / 8) * 8), int(round(h * scale / 8) * 8)
            size_cols[1].caption(f"{width} × {height}")
        random_seed = st.checkbox("Random seed", value="seed" not in prefill)
        seed = None if random_seed else int(st.number_input("Seed", 0, MAX_SEED, int(prefill.get("seed", 0))))
    return {"model": model, "steps": int(steps), "guidance": float(guidance), "scheduler": scheduler, "n": int(n),
            "width": int(width), "height": int(height), "seed": seed}


class Progress:
    """A progress bar and a Cancel button; clicking Cancel stops the running render (nothing is written)."""

    def __init__(self, label: str):
        cols = st.columns([5, 1])
        self.bar = cols[0].progress(0.0, text=label)
        self.label = label
        cols[1].button("Cancel", key=f"cancel-{label}", help="stops the render; nothing is written")

    def __call__(self, done: int, total: int) -> None:
        # Each update is a Streamlit call: a click on Cancel interrupts the script right here.
        self.bar.progress(min(1.0, done / max(total, 1)), text=f"{self.label}: step {done}/{total}")

    def done(self) -> None:
        self.bar.empty()


def record_pick(image_id: str, what: str) -> None:
    picks = st.session_state.setdefault(PICKS, [])
    if not picks or picks[-1] != (image_id, what):
        picks.append((image_id, what))


def breadcrumb(studio: Studio) -> None:
    """prompt → pick → vary → pick → upscale, for this browser session."""
    picks = st.session_state.get(PICKS) or []
    if not picks:
        return
    parts = []
    for image_id, what in picks[-8:]:
        parts.append(f"{what} `{image_id[-6:]}`")
    st.caption("Your picks: " + " → ".join(parts))


def image_grid(studio: Studio, records: list[ImageRecord], key: str, columns: int = 4,
               thumbnails: bool = False, actions: bool = True) -> None:
    """A grid of images; under each: U, V subtle, V strong, rating, favorite, lineage."""
    if not records:
        return
    cols = st.columns(columns)
    for i, record in enumerate(records):
        with cols[i % columns]:
            image_card(studio, record, f"{key}-{i}", thumbnails, actions)


def image_card(studio: Studio, record: ImageRecord, key: str, thumbnail: bool = False, actions: bool = True) -> None:
    path = studio.thumbnail(record) if thumbnail else studio.path_of(record)
    seed = record.params.get("seed")
    st.image(str(path), caption=f"{record.id[-8:]} · {record.op}" + (f" · seed {seed}" if seed is not None else ""))
    if not actions:
        return
    a, b, c, d = st.columns(4)
    a.button("U", key=f"u-{key}", help="upscale this image", on_click=_goto_upscale, args=(record.id,))
    b.button("V·s", key=f"vs-{key}", help="subtle variations", on_click=_request_vary, args=(record.id, "subtle"))
    c.button("V·S", key=f"vS-{key}", help="strong variations", on_click=_request_vary, args=(record.id, "strong"))
    d.page_link("pages/4_Lineage.py", label="Tree", query_params={"id": record.id}, help="open in Lineage")
    r, f = st.columns([3, 1])
    r.selectbox("Rating", range(6), index=record.rating, key=f"rate-{key}", label_visibility="collapsed",
                format_func=lambda s: "☆ unrated" if s == 0 else "★" * s,
                on_change=_rate, args=(studio, record.id, f"rate-{key}"))
    f.checkbox("♥", value=record.favorite, key=f"fav-{key}", help="favorite",
               on_change=_favorite, args=(studio, record.id, f"fav-{key}"))


def _goto_upscale(image_id: str) -> None:
    st.session_state["gwen_current"] = image_id
    record_pick(image_id, "pick for upscale")
    st.session_state["gwen_goto"] = "pages/5_Upscale.py"


def _request_vary(image_id: str, strength: str) -> None:
    st.session_state["gwen_vary_request"] = (image_id, strength)
    st.session_state["gwen_current"] = image_id
    record_pick(image_id, f"pick → V {strength}")


def _rate(studio: Studio, image_id: str, key: str) -> None:
    guarded(lambda: studio.rate(image_id, int(st.session_state[key])))


def _favorite(studio: Studio, image_id: str, key: str) -> None:
    guarded(lambda: studio.favorite(image_id, bool(st.session_state[key])))


def follow_navigation() -> None:
    """Pages call this early: a button callback may have asked to go to another page."""
    target = st.session_state.pop("gwen_goto", None)
    if target:
        st.switch_page(target)


def run_vary_request(studio: Studio, n: int = 4) -> list[ImageRecord] | None:
    """Perform a V·s / V·S request made by a grid button, with progress; returns the children."""
    request = st.session_state.pop("gwen_vary_request", None)
    if not request:
        return None
    image_id, strength = request
    progress = Progress(f"Variations ({strength})")
    kids = guarded(lambda: studio.vary(image_id, strength=strength, n=n, seed=random.randrange(MAX_SEED),
                                       on_step=progress))
    progress.done()
    return kids


def choose_image(studio: Studio, hint: str) -> str | None:
    """The current image (deep link or this session's), changeable by typing an id or a unique prefix."""
    image_id = current_image_id(studio)
    typed = st.text_input("Image id", value=image_id or "", help=hint)
    if typed and typed != image_id:
        image_id = guarded(lambda: studio.resolve(typed))
    return image_id


def current_image_id(studio: Studio) -> str | None:
    """The image named by ``?id=`` (deep link), else this session's current image."""
    from_link = st.query_params.get("id")
    if from_link:
        resolved = guarded(lambda: studio.resolve(from_link))
        if resolved:
            st.session_state["gwen_current"] = resolved
            return resolved
        return None
    return st.session_state.get("gwen_current")
