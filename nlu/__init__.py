"""The NLU engine: Rasa-format data, a component pipeline, training, evaluation, model store."""
