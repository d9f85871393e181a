"""Routes that render: generate, render planned params, reroll, vary (plan, then render), upscale, verify; the
watched render's progress and its cancel.

A render runs as the one watched render of the served studio (``Progress``); inputs are validated by the studio
before anything renders, and a refused model never opens a file outside the models folder (``gwen.boundary``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gwen.params import ImageParams
from gwen.service.bodies import GenerateBody, RenderBody, RenderPlannedBody, RerollBody, UpscaleBody, VaryBody
from gwen.service.progress import Progress
from gwen.service.routes_images import images
from gwen.variation import VariationPlan


def router(studio, progress: Progress) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.post("/generate")
    def generate(body: GenerateBody) -> dict[str, Any]:
        options = body.model_dump()
        prompt = options.pop("prompt")
        return images(progress.run("generate", lambda s, c, v: studio.generate(
            prompt, on_step=s, cancel=c, on_preview=v, **options)))

    @api.post("/generate/plan")
    def plan_generate(body: GenerateBody) -> dict[str, Any]:
        options = body.model_dump()
        prompt = options.pop("prompt")
        return {"params": [p.to_dict() for p in studio.plan_generate(prompt, **options)]}

    @api.post("/render")
    def render_params(body: RenderBody) -> dict[str, Any]:
        params = [ImageParams.from_json(p) for p in body.params]
        return images(progress.run("generate", lambda s, c, v: studio.render_params(
            params, on_step=s, cancel=c, on_preview=v)))

    @api.post("/images/{image_id}/reroll")
    def reroll(image_id: str, body: RerollBody) -> dict[str, Any]:
        return images(progress.run("reroll", lambda s, c, v: studio.reroll(
            image_id, body.n, body.seed, on_step=s, cancel=c, on_preview=v)))

    @api.post("/images/{image_id}/vary")
    def vary(image_id: str, body: VaryBody) -> dict[str, Any]:
        return images(progress.run("vary", lambda s, c, v: studio.vary(
            image_id, on_step=s, cancel=c, on_preview=v, **body.model_dump())))

    @api.post("/images/{image_id}/vary/plan")
    def plan_variations(image_id: str, body: VaryBody) -> dict[str, Any]:
        parent, children, plan = studio.plan_variations(image_id, **body.model_dump())
        return {"parent": parent.to_dict(), "children": [c.to_dict() for c in children],
                "plan": plan.to_wire()}

    @api.post("/images/{image_id}/vary/render")
    def render_planned(image_id: str, body: RenderPlannedBody) -> dict[str, Any]:
        children = [ImageParams.from_json(c) for c in body.children]
        plan = VariationPlan.from_wire(body.plan)
        return images(progress.run("vary", lambda s, c, v: studio.render_planned(
            image_id, children, plan, on_step=s, cancel=c, on_preview=v)))

    @api.post("/images/{image_id}/upscale")
    def upscale(image_id: str, body: UpscaleBody) -> dict[str, Any]:
        full_id = studio.resolve(image_id)  # an id, never a path on the server
        return images([progress.run("upscale", lambda s, c, v: studio.upscale(full_id, **body.model_dump()))])

    @api.post("/images/{image_id}/verify")
    def verify(image_id: str) -> dict[str, Any]:
        return studio.verify(image_id).to_dict()

    @api.get("/progress")
    def get_progress(previews: bool = False) -> dict[str, Any]:
        return progress.snapshot(previews)

    @api.post("/cancel")
    def cancel() -> dict[str, Any]:
        progress.cancel.set()
        return {"cancel_requested": True}

    return api
