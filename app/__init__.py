"""The application: composition root (settings, commands, wiring, runners, adapters)."""
