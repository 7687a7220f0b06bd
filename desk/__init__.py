"""The case backend: models, repositories, services, outbox, attachment store."""
