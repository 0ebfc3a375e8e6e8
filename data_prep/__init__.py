"""Offline data preparation tools (run as `python -m data_prep.<tool>`)."""
