"""Hub models on a machine that cannot reach the Hub: a clear refusal within seconds, before torch is imported."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from gwen import hub
from gwen.errors import ModelUnavailable
from tests.conftest import ROOT


@pytest.fixture
def black_hole():
    """A Hub endpoint that accepts connections and never answers (a dead proxy, a firewall that drops)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


def test_an_unreachable_hub_fails_a_generate_within_five_seconds(home, tmp_path, black_hole):
    env = {**os.environ, "HF_ENDPOINT": black_hole, "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
           "GWEN_DEVICE": "cpu"}
    env.pop("GWEN_HUB_TIMEOUT", None)  # the shipped default (3 s)
    env.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "gwen", "--home", str(home), "generate", "a cat", "--model", "sd15"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert out.returncode == 2, out.stderr
    assert "cannot be reached" in out.stderr and "stable-diffusion-v1-5/stable-diffusion-v1-5" in out.stderr
    assert "hf download stabilityai" not in out.stderr and "download stable-diffusion-v1-5" in out.stderr
    assert elapsed < 5, f"took {elapsed:.1f} s"  # was ~30 s of retries before
    assert not (home / "images").exists()


def test_offline_mode_refuses_at_once_and_names_the_installed_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as caught:
        hub.probe("stabilityai/sd-turbo", ref="sd-turbo")
    assert caught.value.reason == "offline" and caught.value.model == "sd-turbo"
    assert caught.value.hub_id == "stabilityai/sd-turbo"
    command = hub.download_command("stabilityai/sd-turbo")
    assert command.split()[0] in ("hf", "huggingface-cli", "python") and command in str(caught.value)
    if (ROOT / ".venv-ci" / "bin" / "hf").exists() or (os.path.dirname(sys.executable) and
                                                       os.path.exists(os.path.join(os.path.dirname(sys.executable), "hf"))):
        assert command == "hf download stabilityai/sd-turbo"  # huggingface_hub 1.x+ has no huggingface-cli


def test_availability_needs_no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "models"
    assert hub.availability("tiny", models) == "builds"
    assert hub.availability("sd15", models) == "download"
    assert hub.availability(str(tmp_path), models) == "ready"
    assert hub.availability(str(tmp_path / "nope"), models) == "missing"
    assert hub.availability("v1-5-pruned-emaonly", models) == "missing"  # an A1111 model name: not loadable here
