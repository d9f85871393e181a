"""GWEN: a human-in-the-loop workflow for Stable Diffusion (generate, pick, vary, upscale, catalog)."""

__version__ = "0.1.0"
