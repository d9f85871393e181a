"""What the command line prints: images as lines or JSON, a comparison table, a tqdm progress bar on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

from gwen.records import ImageRecord


def image_json(studio, r: ImageRecord) -> dict[str, Any]:
    return {"id": r.id, "path": studio.location_of(r), "seed": r.params.get("seed"), "op": r.op,
            "parent_id": r.parent_id, "root_id": r.root_id, "rating": r.rating, "favorite": r.favorite,
            "tags": list(r.tags), "deleted": r.deleted, "created_at": r.created_at.isoformat(), "worker": r.worker,
            "params": r.params}


def print_images(studio, records: list[ImageRecord], as_json: bool, total: int | None = None) -> None:
    if as_json:
        out: dict[str, Any] = {"images": [image_json(studio, r) for r in records]}
        if total is not None:
            out["total"] = total
        print(json.dumps(out))
        return
    for r in records:
        stars = "★" * r.rating
        print(f"{r.id}  {r.op:8} seed={r.params.get('seed')!s:>10}  {stars:5}  {studio.location_of(r)}")
    if total is not None:
        print(f"{len(records)} shown of {total}", file=sys.stderr)


def render_and_print(studio, as_json: bool, work: Callable[["StepBar"], list[ImageRecord]]) -> int:
    """``work(on_step)`` with a step bar on stderr (when it is a terminal), then its images printed; returns 0."""
    bar = StepBar(enabled=sys.stderr.isatty())
    try:
        records = work(bar)
    finally:
        bar.close()
    print_images(studio, records, as_json)
    return 0


def print_differences(result: dict[str, Any]) -> None:
    ids = [i[-8:] for i in result["ids"]]
    rows = [[d["parameter"], *("-" if v is None else str(v) for v in d["values"])] for d in result["differences"]]
    widths = [max(len(r[k]) for r in [["setting", *ids], *rows]) for k in range(len(ids) + 1)]
    for row in [["setting", *ids], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not rows:
        print("no differences")
    print("the same in all: " + ", ".join(result["same"]), file=sys.stderr)


class StepBar:
    """A tqdm bar on stderr, fed by ``on_step(done, total)`` (nothing when stderr is not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None or self.bar.total != total or done < self.bar.n:
            self.close()
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="step", file=sys.stderr, desc="denoising", leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def print_planned(parent: ImageRecord, children: list, plan, as_json: bool, locks=()) -> None:
    """``vary --dry-run``: every sampled field of each child, before anything renders; with a taste, why."""
    from gwen.taste import why
    from gwen.variation import taste_leans

    rows = [c.to_dict() for c in children]
    reasons = why(plan.liked, {**parent.params, "variation_strength": (parent.variation or {}).get("strength")},
                  [{**r, "variation_strength": plan.strength} for r in rows], taste_leans(plan, locks))
    if as_json:
        print(json.dumps({"parent": parent.id, "plan": plan.to_wire(), "children": rows, "why": reasons}))
        return
    tasted = f", taste {plan.taste:g} on ratings {plan.ratings_snapshot[:12]}" if plan.taste else ""
    print(f"variations of {parent.id} (strength {plan.strength:g}, modes {', '.join(plan.modes)}{tasted}); "
          "nothing rendered")
    header = ["#", "seed", "noise chain", "guidance", "steps", "scheduler", "denoise", "model", "prompt"]
    table = [[str(k), str(r["seed"]), " ".join(f"{v['seed']}:{v['strength']:g}" for v in r.get("variations") or [])
              or "-", f"{r['guidance']:g}", str(r["steps"]), r["scheduler"],
              "-" if r.get("denoise") is None else f"{r['denoise']:g}", r["model"][-24:], r["prompt"][:40]]
             for k, r in enumerate(rows)]
    _print_table(header, table)
    if plan.taste_note:
        print(f"note: {plan.taste_note}")
    if reasons:
        print("why (your ratings):")
        _print_table(list(reasons[0]), [["-" if v is None else str(v) for v in row.values()] for row in reasons])


def _print_table(header: list[str], table: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
