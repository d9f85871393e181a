"""Overhead of the remote studio: a 4-image tiny generation through `gwen serve` vs the local facade.

Starts a server on 127.0.0.1 over its own GWEN_HOME, then alternates local and remote calls with the same
settings (median of --runs each, after one warm-up of each). Prints a Markdown table.

    python bench/remote_overhead.py --runs 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from gwen.tiny_models import build_tiny_sd
    from gwen.remote import RemoteStudio
    from gwen.studio import Studio
    from tests.test_service import TOKEN, start_server, stop

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sd = build_tiny_sd(tmp / "server" / "models" / "tiny-sd")
        shutil.copytree(sd, tmp / "local-sd" / "tiny-sd")
        (tmp / "token").write_text(TOKEN)
        proc, url = start_server(tmp / "server", tmp / "token")
        try:
            remote = RemoteStudio(url, TOKEN)
            local = Studio(tmp / "local")
            options = dict(n=4, steps=4, width=64, height=64, guidance=5.0)
            times = {"local": [], "remote": [], "remote+download": []}
            for i in range(args.runs + 1):
                start = time.perf_counter()
                local.generate("a lighthouse", model=str(tmp / "local-sd" / "tiny-sd"), seed=i, **options)
                t_local = time.perf_counter() - start
                start = time.perf_counter()
                records = remote.generate("a lighthouse", model="tiny-sd", seed=i, **options)
                t_remote = time.perf_counter() - start
                for r in records:
                    remote.path_of(r)
                t_download = time.perf_counter() - start
                if i:  # the first round warms both up
                    times["local"].append(t_local)
                    times["remote"].append(t_remote)
                    times["remote+download"].append(t_download)
        finally:
            stop(proc)
    base = statistics.median(times["local"])
    print(f"tiny model, 4 images of 64², 4 steps, median of {args.runs} (alternating)")
    print("| path | median (s) | vs local |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} | {statistics.median(values) / base:.2f}× |")


if __name__ == "__main__":
    main()
