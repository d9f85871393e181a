"""Queue: add batches, watch jobs, cancel/retry, start/stop the runner (it keeps going when this tab closes)."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from gwen.ui.state import get_runner, page
from gwen.ui.widgets import guarded, model_choice

studio = page("Queue")
st.title("Queue")
runner = get_runner()

with st.expander("Add a batch", expanded=True):
    prompts = st.text_area("Prompts, one per line (# comments)", key="q_prompts")
    upload = st.file_uploader("…or a batch file (.txt, .json, .jsonl, .toml)", type=["txt", "json", "jsonl", "toml"])
    cols = st.columns(4)
    model = model_choice(studio, "q_model")
    n = cols[0].number_input("Images per prompt", 1, 16, 4)
    steps = cols[1].number_input("Steps (0 = model default)", 0, 150, 0)
    size = cols[2].number_input("Size (0 = model default)", 0, 2048, 0, 8)
    then_vary = cols[3].number_input("Subtle variations of each result", 0, 8, 0)
    if st.button("Add to queue", type="primary"):
        folder = Path(tempfile.mkdtemp())
        if upload is not None:
            path = folder / Path(upload.name).name
            path.write_bytes(upload.getvalue())
        else:
            path = folder / "prompts.txt"
            path.write_text(prompts, encoding="utf-8")
        defaults = {"model": model, "n": int(n), "steps": int(steps) or None,
                    "width": int(size) or None, "height": int(size) or None}
        if then_vary and upload is None:
            import json
            jobs = [{"prompt": line.strip(), "then": [{"kind": "vary", "n": int(then_vary), "strength": "subtle"}]}
                    for line in prompts.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            path = folder / "prompts.json"
            path.write_text(json.dumps(jobs), encoding="utf-8")
        added = guarded(lambda: studio.queue_add(path, defaults))
        if added:
            st.success(f"Added {len(added)} jobs.")

left, right = st.columns([1, 3])
if runner.running:
    if left.button("⏹ Stop runner"):
        runner.stop()
        st.rerun()
    current = runner.runner.current if runner.runner else None
    done, total = runner.runner.progress if runner.runner else (0, 0)
    right.progress(done / total if total else 0.0,
                   text=f"running {current.kind} {current.id[-8:]}: step {done}/{total}" if current else "idle: "
                   "waiting for jobs")
else:
    if left.button("▶ Start runner", type="primary"):
        runner.start()
        st.rerun()
    right.caption("The runner is stopped." + (f" Last error: {runner.last_error}" if runner.last_error else ""))

status = st.selectbox("Show", ["all", "pending", "running", "done", "failed", "cancelled"], key="q_status")
jobs = studio.queue_list(None if status == "all" else status)
counts = studio.queue_counts()
st.caption(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "No jobs yet.")
if jobs:
    st.dataframe(pd.DataFrame([{"id": j.id, "kind": j.kind, "status": j.status, "attempts": j.attempts,
                                "images": len(j.image_ids), "error": j.error or "", "source": j.source or ""}
                               for j in jobs]), hide_index=True)
    choice = st.selectbox("Job", [j.id for j in jobs], key="q_job")
    a, b = st.columns(2)
    if a.button("Cancel job"):
        if guarded(lambda: studio.queue_cancel(choice)):
            st.rerun()
    if b.button("Retry job"):
        if guarded(lambda: studio.queue_retry(choice)):
            st.rerun()
if runner.running:
    st.button("↻ Refresh")
