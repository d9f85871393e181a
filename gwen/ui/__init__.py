"""Streamlit helpers shared by Home.py and pages/ (the only package besides pages that imports streamlit)."""
