"""Fakes and helpers used only by tests and benches, never by production code.

- `testing.dialogue`: fakes of the dialogue's ports (interpreter, gateway, normalizers)
- `testing.memory`: in-memory implementations of the bot's ports
- `testing.echo`: an echo dialogue for the Telegram tests
- `testing.botapi_server`: a local Telegram Bot API server (aiohttp)
- `testing.mocked_bot`: an aiogram `Bot` whose session answers from a queue
- `testing.nlu`: the small NLU fixture data and pipeline
- `testing.app`: `bot_settings` (Settings for tests) and the `make_services` fixture type
- `testing.samples`: sample files (PDF, JPEG, PNG bomb) and sample taxpayer messages
- `testing.services`: PostgreSQL databases and Redis for tests (fail in CI when down)
- `testing.clock`: a settable clock
- `testing.waits`: `wait_for`, polling a condition instead of sleeping a fixed time
"""
