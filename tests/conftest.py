"""Shared test settings: tiny models, CPU, and a throwaway data cache per session."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
