"""The taxpayers' web chat: the channel (`channel`), its outbox sender (`notices`), the HTTP
routes and the stream (`routes`)."""
