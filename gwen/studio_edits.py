"""The facade's edits of a catalog image: Vary (Region), Pan, Zoom Out (``EditsMixin``, mixed into ``Studio``).

Contract:
- ``vary_region`` redraws a region (a ``box`` x, y, w, h, or a painted ``mask``: PNG bytes of the image's size,
  white = redraw) and keeps the rest pixel for pixel; ``pan`` extends the canvas on one ``side`` (left, right,
  up, down) by ``fraction`` (0, 1] of the image's width or height; ``zoom`` extends every side, the canvas
  ``factor`` (1, 4] times larger (1.5 and 2 are the usual). Each makes ``n`` children of the image (ops
  ``inpaint``, ``pan``, ``zoom``), its settings and prompt unless ``prompt`` remixes it, at ``strength``
  (default 0.75 for a region, 0.9 for pan and zoom), seeds ``seed, seed+1, ...``.
- Every input is checked before anything renders (``gwen.edit_planning``: ``InvalidInput`` / ``NotFound``);
  each child's mask is written beside it (``<id>.mask.png``, its sha256 in the params' ``edit``) before the
  image, and both before the rows (``gwen.rendering``). ``verify`` re-renders an edit from its record.
"""

from __future__ import annotations

from typing import Callable

from gwen.records import ImageRecord

ProgressFn = Callable[[int, int], None]
PreviewFn = Callable[[int, list], None]


class EditsMixin:
    planner: object
    rendering: object

    def vary_region(self, image_id: str, *, box: tuple[int, int, int, int] | None = None, mask: bytes | None = None,
                    prompt: str | None = None, n: int = 4, strength: float | None = None, seed: int | None = None,
                    mask_blur: int | None = None, on_step: ProgressFn | None = None, cancel=None,
                    on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        from gwen.edit_planning import plan_region

        plan = plan_region(self.planner, image_id, box=box, mask=mask, prompt=prompt, n=n, strength=strength,
                           seed=seed, mask_blur=mask_blur)
        return self._render_edit(plan, on_step, cancel, on_preview)

    def pan(self, image_id: str, side: str, fraction: float = 0.5, *, prompt: str | None = None, n: int = 4,
            strength: float | None = None, seed: int | None = None, mask_blur: int | None = None,
            on_step: ProgressFn | None = None, cancel=None, on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        from gwen.edit_planning import plan_pan

        plan = plan_pan(self.planner, image_id, side, fraction, prompt=prompt, n=n, strength=strength, seed=seed,
                        mask_blur=mask_blur)
        return self._render_edit(plan, on_step, cancel, on_preview)

    def zoom(self, image_id: str, factor: float = 2.0, *, prompt: str | None = None, n: int = 4,
             strength: float | None = None, seed: int | None = None, mask_blur: int | None = None,
             on_step: ProgressFn | None = None, cancel=None, on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        from gwen.edit_planning import plan_zoom

        plan = plan_zoom(self.planner, image_id, factor, prompt=prompt, n=n, strength=strength, seed=seed,
                         mask_blur=mask_blur)
        return self._render_edit(plan, on_step, cancel, on_preview)

    def _render_edit(self, plan, on_step, cancel, on_preview) -> list[ImageRecord]:
        return self.rendering.render(plan.children, plan.children[0].edit.kind, plan.parent, plan.plan,
                                     on_step=on_step, cancel=cancel, on_preview=on_preview, masks=plan.masks)
