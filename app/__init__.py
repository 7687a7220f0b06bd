"""The application: composition root, commands, wiring, service runners, shell."""
