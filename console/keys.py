"""The key that encrypts the session cookies (and signs the one-time setup links): kept by
the desk (`desk.keys`, so `main.py staff add --setup-link` signs with the same key)."""

from __future__ import annotations

from desk.keys import KEY_FILE, load_secret

__all__ = ["KEY_FILE", "load_secret"]
