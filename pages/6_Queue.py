"""Queue: add batches, watch jobs live, cancel/retry, start/stop the runner (it keeps going when this tab closes)."""

from pathlib import Path

import pandas as pd
import streamlit as st

from gwen.ui.common import PAGES, guarded, joined, plural, short_id
from gwen.ui.forms import KEEP, kept, model_picker
from gwen.ui.state import get_runner, page

HERE = PAGES["queue"]
REFRESH_SECONDS = 2
studio = page("Queue", HERE)
st.title("Queue")
runner = get_runner()

with st.expander("Add a batch", expanded=True):
    prompts = st.text_area("Prompts, one per line (# comments)", key=kept("q_prompts", ""), persist_state=KEEP)
    upload = st.file_uploader("…or a batch file (.txt, .json, .jsonl, .toml)", type=["txt", "json", "jsonl", "toml"])
    model = model_picker(studio, "q_model")
    cols = st.columns(4)
    n = cols[0].number_input("Images per prompt", 1, 16, key=kept("q_n", 4), persist_state=KEEP)
    steps = cols[1].number_input("Steps (0 = the model's)", 0, 150, key=kept("q_steps", 0), persist_state=KEEP)
    size = cols[2].number_input("Size (0 = the model's)", 0, 2048, step=8, key=kept("q_size", 0), persist_state=KEEP)
    then_vary = cols[3].number_input("Subtle variations of each result", 0, 8, key=kept("q_then", 0),
                                     persist_state=KEEP)
    if st.button("Add to queue", type="primary"):
        defaults = {"model": model, "n": int(n), "steps": int(steps) or None,
                    "width": int(size) or None, "height": int(size) or None}
        then = [{"kind": "vary", "n": int(then_vary), "strength": "subtle"}] if then_vary else None
        if upload is not None:
            name = Path(upload.name).name
            added = guarded(lambda: studio.queue_add_text(upload.getvalue().decode("utf-8", "replace"),
                                                          Path(name).suffix, defaults, name, then))
        else:
            added = guarded(lambda: studio.queue_add_text(prompts, ".txt", defaults, "typed prompts", then))
        if added:
            st.success(f"Added {plural(len(added), 'job')}.")

if runner.running:
    if st.button("■ Stop runner"):
        runner.stop()
        st.rerun()
elif st.button("▶ Start runner", type="primary"):
    runner.start()
    st.rerun()


def describe(job) -> str:
    spec = job.spec
    if job.kind == "generate" and spec.get("params"):
        return spec["params"][0].get("prompt", "")
    what = f"{job.kind} of {short_id(spec['image'])}" if spec.get("image") else job.kind
    return what + (f" ({spec['strength']})" if job.kind == "vary" and spec.get("strength") else "")


def readable_source(source: str | None) -> str:
    if not source:
        return ""
    if source.startswith("follow-up of "):
        return f"follow-up of {short_id(source.removeprefix('follow-up of '))}"
    return Path(source).name  # "prompts.toml:3": the file's own name and line, never a temporary folder


counts_now = studio.queue_counts()
busy = runner.running and bool(counts_now.get("running") or counts_now.get("pending"))


@st.fragment(run_every=REFRESH_SECONDS if busy else None)
def live() -> None:
    """Redrawn every few seconds while the runner runs: its state, the counts and the jobs."""
    counts = studio.queue_counts()
    running = runner.running
    state = runner.runner if running else None
    current = state.current if state else None
    done, total = state.progress if state else (0, 0)
    if running and current:
        st.progress(done / total if total else 0.0, text=f"Runner: {current.kind} {short_id(current.id)}, "
                    f"step {done}/{total}")
    elif running:
        st.caption("Runner: idle, waiting for jobs" if not counts.get("pending") else "Runner: starting a job…")
    else:
        st.caption(joined(["Runner: stopped", f"last error: {runner.last_error}" if runner.last_error else None]))
    working = running and bool(counts.get("running") or counts.get("pending"))
    if st.session_state.get("q_was_working") and not working:
        st.session_state["q_was_working"] = False
        st.rerun(scope="app")  # nothing left to watch: stop refreshing
    st.session_state["q_was_working"] = working
    st.caption(joined(f"{plural(counts[s], 'job')} {s}" for s in ("running", "pending", "done", "failed", "cancelled")
                      if counts.get(s)) or "No jobs yet.")
    status = st.selectbox("Show", ["all", "pending", "running", "done", "failed", "cancelled"], key="q_status")
    jobs = studio.queue_list(None if status == "all" else status)
    if not jobs:
        return
    st.dataframe(pd.DataFrame([{
        "job": short_id(j.id), "kind": j.kind, "status": j.status, "prompt": describe(j),
        "source": readable_source(j.source), "attempts": f"{j.attempts}/{j.max_attempts}",
        "images": len(j.image_ids), "first image": f"Gallery?id={j.image_ids[0]}"
        if j.image_ids else None, "error": j.error or ""} for j in jobs]), hide_index=True,
        column_config={"first image": st.column_config.LinkColumn("first image", display_text="open")})
    choice = st.selectbox("Job", [j.id for j in jobs], key="q_job",
                          format_func=lambda i: joined([short_id(i), next(describe(j) for j in jobs if j.id == i)]))
    job = next(j for j in jobs if j.id == choice)
    a, b = st.columns(2)
    if a.button("Cancel job", disabled=job.status not in ("pending", "running")):
        if guarded(lambda: studio.queue_cancel(choice)):
            st.rerun()
    if b.button("Retry job", disabled=job.status not in ("failed", "cancelled")):
        if guarded(lambda: studio.queue_retry(choice)):
            st.rerun()
    if job.image_ids:
        st.caption(f"{plural(len(job.image_ids), 'image')} made by job {short_id(job.id)}")
        found = studio.get_many(list(job.image_ids[:12]))
        cells = st.columns(6)
        for k, image_id in enumerate(i for i in job.image_ids[:12] if i in found):
            with cells[k % 6]:
                st.image(str(studio.thumbnail(found[image_id])), width="stretch")
                st.page_link(PAGES["gallery"], label=short_id(image_id), query_params={"id": image_id})


live()
