"""Running the queue from the command line: this home's runner, or (``--remote``) the server's, with progress."""

from __future__ import annotations

import json
import sys
from typing import Any


def run_queue(studio, until_empty: bool, as_json: bool, added: list[str] | None = None) -> int:
    from tqdm import tqdm

    runner = studio.queue_runner()
    bars: dict[str, Any] = {}
    show = sys.stderr.isatty() and not as_json

    def on_job(job, index: int, total: int) -> None:
        print(f"started job {job.id} ({job.kind}, attempt {job.attempts})", file=sys.stderr, flush=True)
        if show:
            bars.setdefault("jobs", tqdm(total=total, desc="jobs", position=0, file=sys.stderr, unit="job"))
            bars["jobs"].total = total
            bars["jobs"].n = index - 1
            bars["jobs"].refresh()

    def on_step(done: int, total: int) -> None:
        if show:
            bar = bars.get("steps")
            if bar is None or bar.total != total or done < bar.n:
                if bar is not None:
                    bar.close()
                bar = bars["steps"] = tqdm(total=total, desc="steps", position=1, leave=False, file=sys.stderr)
            bar.n = done
            bar.refresh()
    try:
        summary = runner.run(until_empty=until_empty, on_job=on_job, on_step=on_step)
    except KeyboardInterrupt:
        runner.stop_event.set()
        raise
    finally:
        for bar in bars.values():
            bar.close()
    counts = studio.queue_counts()
    if as_json:
        print(json.dumps({"summary": summary.to_dict(), "counts": counts, **({"added": added} if added else {})}))
    else:
        print(f"done {summary.done}, failed {summary.failed}, cancelled {summary.cancelled}, "
              f"retried {summary.retried}, recovered {summary.recovered}; queue: {counts}")
    return 0
