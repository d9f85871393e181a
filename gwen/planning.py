"""Deciding what to render, before anything renders: a grid's params, an image's variations, a reroll.

Contract:
- ``plan_generate`` returns the validated params of a grid: seeds ``seed, seed+1, ...``, values not given taken
  from the model's preset, an optional noise chain kept on every image, an optional init image (img2img from a
  catalog image, ``denoise`` of it re-noised).
- ``styles`` (names, ``gwen.styles``) expand the grid's prompt and negative with the user's style book; the params
  record the expanded text and the names. A variation keeps its parent's; one with a remixed prompt has the
  parent's styles applied to the new prompt (when the parent's text still holds them; otherwise the new prompt is
  taken as typed and the child names no style).
- ``plan_variations`` samples the children of a catalog image (``gwen.variation``): the dashboard's preview
  table and exactly what ``render_planned`` then renders. With ``taste`` T > 0 it fits the user's taste
  (``gwen.taste``) on the rated images (``Library.rated_rows``, once per ratings snapshot) and the jitter leans
  toward it; the plan records T and the snapshot's hash, so the same seed, snapshot and T give the same children.
- ``params_of(record)`` is the renderable params of a catalog image. A record made elsewhere may name a model
  path of that machine (an imported PNG): the params then name the copy in this models folder, found by name or
  A1111 hash, or the boundary refuses (``gwen.boundary``). A record without complete params raises
  ``InvalidInput`` saying so.
- Nothing here renders or writes.
"""

from __future__ import annotations

import secrets
from typing import Any, Iterable

from gwen import taste, variation
from gwen.boundary import ModelBoundary
from gwen.errors import InvalidInput
from gwen.params import MAX_IMAGES_PER_REQUEST, MAX_SEED, ImageParams, canonical_scheduler
from gwen.presets import preset_for, preset_named
from gwen.records import ImageRecord
from gwen.styles import apply as apply_styles
from gwen.styles import extract as extract_styles
from gwen.taste import TasteModel


class Planner:
    def __init__(self, library, boundary: ModelBoundary, preferences):
        self.library = library
        self.boundary = boundary
        self.preferences = preferences
        self._fitted: tuple[str, TasteModel] | None = None  # (ratings snapshot hash, its taste): fit once per snapshot

    def plan_generate(self, prompt: str, *, negative: str = "", model: str | None = None, n: int = 4,
                      seed: int | None = None, steps: int | None = None, guidance: float | None = None,
                      width: int | None = None, height: int | None = None, scheduler: str | None = None,
                      variations: Iterable[dict] | None = None, init_image_id: str | None = None,
                      denoise: float | None = None, styles: Iterable[str] | None = None) -> list[ImageParams]:
        check_n(n)
        chosen = self.preferences.style_book().pick(styles) if styles else []
        prompt, negative = apply_styles(prompt, negative, chosen)
        if init_image_id is not None:
            init_image_id = self.library.get(init_image_id).id  # NotFound before anything renders
        model = model or self.preferences.default_model()
        preset = preset_for(model)
        if seed is None:
            seed = secrets.randbelow(MAX_SEED - MAX_IMAGES_PER_REQUEST)
        base = ImageParams.build(
            prompt=prompt, negative_prompt=negative, model=model,
            steps=steps if steps is not None else (preset.steps if preset else 25),
            guidance=guidance if guidance is not None else (preset.guidance if preset else 7.0),
            width=width if width is not None else (preset.size if preset else 512),
            height=height if height is not None else (preset.size if preset else 512),
            scheduler=scheduler or (preset.scheduler if preset else "Euler a"), seed=seed,
            variations=tuple(variations or ()), init_image_id=init_image_id, denoise=denoise,
            styles=tuple(style.name for style in chosen))
        return [base] + [base.replace(seed=seed + i) for i in range(1, n)]

    def plan_reroll(self, image_id: str, n: int = 4, seed: int | None = None
                    ) -> tuple[ImageRecord, list[ImageParams]]:
        parent = self.library.get(image_id)
        return parent, variation.reroll(self.params_of(parent), n, seed)

    def plan_variations(self, image_id: str, strength: str | float = "subtle", modes: str | Iterable[str] = "mix",
                        n: int = 4, prompt: str | None = None, locks: Iterable[str] = (),
                        guidance_range: tuple[float, float] | None = None,
                        steps_range: tuple[int, int] | None = None, schedulers: Iterable[str] | None = None,
                        seed: int | None = None, model: str | None = None,
                        denoise_range: tuple[float, float] | None = None, taste: str | float | None = None
                        ) -> tuple[ImageRecord, list[ImageParams], variation.VariationPlan]:
        parent = self.library.get(image_id)
        value, preset = variation.parse_strength(strength)
        parsed_modes = variation.parse_modes(modes)
        ranges: dict[str, Any] = {"locks": frozenset(locks)}
        for name, given in (("guidance", guidance_range), ("steps", steps_range), ("denoise", denoise_range)):
            if given is not None:
                ranges[name] = tuple(given)
        if schedulers is not None:
            ranges["schedulers"] = tuple(canonical_scheduler(s) for s in schedulers)
        jitter_ranges = variation.JitterRanges(**ranges)
        weight = variation.parse_taste(taste)
        fitted, snapshot, note = self._taste(weight, parsed_modes)
        plan = variation.VariationPlan(value, parsed_modes, preset, prompt, weight, snapshot, note,
                                       fitted.summary() if fitted is not None else ())
        children = variation.sample_children(self.params_of(parent), parent.id, n, plan, jitter_ranges,
                                             secrets.randbelow(MAX_SEED) if seed is None else seed,
                                             fitted if note is None else None)
        if model:
            children = [child.replace(model=model) for child in children]
        if prompt is not None and children and children[0].styles:
            children = self._restyled(children, self.params_of(parent))
        return parent, children, plan

    def _restyled(self, children: list[ImageParams], parent: ImageParams) -> list[ImageParams]:
        """Remixed children with the parent's styles applied to the new prompt, or naming none (module docs)."""
        book = self.preferences.style_book()
        chosen = [book.styles[name] for name in parent.styles if name in book.styles]
        own = extract_styles(parent.prompt, parent.negative_prompt, chosen) \
            if len(chosen) == len(parent.styles) else None
        if own is None:
            return [child.replace(styles=()) for child in children]
        return [child.replace(**dict(zip(("prompt", "negative_prompt"), apply_styles(child.prompt, own[1], chosen))))
                for child in children]

    def _taste(self, weight: float, modes: tuple[str, ...]) -> tuple[TasteModel | None, str | None, str | None]:
        """(the fitted taste, the ratings snapshot's hash, a note when it cannot lean); nothing is read at 0."""
        if weight == 0:
            return None, None, None
        columns, snapshot = self.library.rated_rows()
        if self._fitted is None or self._fitted[0] != snapshot:
            self._fitted = (snapshot, taste.fit(columns))
        fitted = self._fitted[1]
        if fitted.empty:
            return None, snapshot, f"no rated images yet: taste {weight:g} has nothing to lean toward (plain jitter)"
        if "jitter" not in modes:
            return fitted, snapshot, f"taste {weight:g} leans only jittered values, and mode {'+'.join(modes)} " \
                                     "jitters none: add jitter"
        return fitted, snapshot, None

    def params_of(self, record: ImageRecord) -> ImageParams:
        fields = {k: v for k, v in record.params.items() if k in ImageParams.model_fields}
        if record.import_source:
            fields.pop("styles", None)  # another tool's style names (Fooocus, A1111): its record, never applied here
        try:
            params = ImageParams.from_json(fields)
        except InvalidInput as exc:
            raise InvalidInput(f"image {record.id} has no complete generation parameters "
                               f"(op={record.op}, imported from {record.import_source or 'GWEN'}): {exc}") from None
        if preset_named(params.model) is not None:
            return params
        located = self.boundary.locate(params.model, "model",
                                       model_hash=record.params.get("model_hash") or record.model_hash)
        return params if located is None or str(located) == params.model else params.replace(model=str(located))


def check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not (1 <= n <= MAX_IMAGES_PER_REQUEST):
        raise InvalidInput(f"n={n!r}: must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}")
