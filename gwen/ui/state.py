"""Process-wide objects for the dashboard (``st.cache_resource``) and the page preamble.

Contract:
- ``get_studio()``: one ``Studio`` per process and data folder, shared by
  every browser session and page; its engine lock serializes device work.
- ``get_runner()``: one queue runner per process, in a daemon thread that
  keeps going when tabs close or pages change; started/stopped on demand.
- ``page(title, script)``: page config, the optional password gate, the
  action router (``gwen.ui.actions.arrive``: follow a page change, drop
  requests meant for other pages) and the notice of a render the previous run
  did not finish; returns the studio.
"""

from __future__ import annotations

import hmac
import os
import threading

import streamlit as st

from gwen.config import gwen_home


def _setting(name: str) -> str | None:
    """An environment variable, else the same key in ``st.secrets`` (Streamlit Community Cloud)."""
    if os.environ.get(name):
        return os.environ[name]
    try:
        value = st.secrets.get(name)
    except Exception:  # no secrets.toml
        value = None
    return str(value) if value else None


def remote_settings() -> tuple[str, str] | None:
    """(url, token) when ``GWEN_BACKEND=remote``; the dashboard then drives a `gwen serve` service."""
    if _setting("GWEN_BACKEND") != "remote":
        return None
    return _setting("GWEN_REMOTE_URL") or "", _setting("GWEN_TOKEN") or ""


@st.cache_resource(show_spinner=False)
def _studio_for(home: str):
    from gwen.studio import Studio  # the full install only

    return Studio(home)


@st.cache_resource(show_spinner=False)
def _remote_for(url: str, token: str):
    from gwen.remote import RemoteStudio

    return RemoteStudio(url, token)


def get_studio():
    """The process-wide studio: local for ``$GWEN_HOME``, or remote when ``GWEN_BACKEND=remote``."""
    remote = remote_settings()
    if remote:
        return _remote_for(*remote)
    return _studio_for(str(gwen_home()))


class RunnerThread:
    """The dashboard's queue runner: a daemon thread around ``QueueRunner.run(until_empty=False)``."""

    def __init__(self, studio):
        self.studio = studio
        self.runner = None
        self.thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.runner = self.studio.queue_runner(poll_seconds=1.0)
        self.last_error = None

        def work() -> None:
            try:
                self.runner.run(until_empty=False)
            except Exception as exc:  # shown on the Queue page
                self.last_error = str(exc)
        self.thread = threading.Thread(target=work, name="gwen-queue-runner", daemon=True)
        self.thread.start()

    def stop(self, wait: float = 30.0) -> None:
        if self.runner is not None:
            self.runner.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=wait)


@st.cache_resource(show_spinner=False)
def _runner_for(home: str) -> RunnerThread:
    return RunnerThread(_studio_for(home))


def get_runner():
    remote = remote_settings()
    if remote:
        from gwen.remote_queue import RemoteRunner

        return RemoteRunner(_remote_for(*remote))
    return _runner_for(str(gwen_home()))


def _password() -> str | None:
    try:
        secret = st.secrets.get("password")
    except Exception:  # no secrets.toml: that is fine
        secret = None
    return secret or os.environ.get("GWEN_PASSWORD") or None


def page(title: str, script: str, icon: str = "🎨"):
    """Page config, the password gate (``GWEN_PASSWORD`` or ``st.secrets["password"]``), the router, the studio."""
    st.set_page_config(page_title=f"GWEN · {title}", page_icon=icon, layout="wide")
    expected = _password()
    if expected and not st.session_state.get("gwen_authenticated"):
        st.title("GWEN")
        given = st.text_input("Password", type="password", key="gwen_password")
        if given:
            if hmac.compare_digest(given.encode(), expected.encode()):
                st.session_state["gwen_authenticated"] = True
                st.rerun()
            st.error("Wrong password.")
        st.stop()
    from gwen.ui import actions
    from gwen.ui.progress import notice_interrupted

    actions.arrive(script)
    notice_interrupted()
    try:
        return get_studio()
    except Exception as exc:  # a bad remote URL: say so instead of a traceback
        from gwen.errors import GwenError

        if not isinstance(exc, GwenError):
            raise
        st.error(str(exc))
        st.stop()
