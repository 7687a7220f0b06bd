"""Telegram side of taxdesk: settings, Bot/Dispatcher factory, middlewares, keyboards."""
