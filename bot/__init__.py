"""The Telegram channel: update conversion, turns, sending, keyboards, albums, files,
middlewares and the notice sender. It imports neither `handlers` nor `app`."""
