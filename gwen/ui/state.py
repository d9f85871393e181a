"""One Studio per Streamlit process and data folder (``st.cache_resource``), shared by every session and page."""

from __future__ import annotations

import streamlit as st

from gwen.config import gwen_home
from gwen.studio import Studio


@st.cache_resource(show_spinner=False)
def _studio_for(home: str) -> Studio:
    return Studio(home)


def get_studio() -> Studio:
    """The process-wide Studio for ``$GWEN_HOME`` (models load lazily, on the first generation)."""
    return _studio_for(str(gwen_home()))
