"""The dialogue, free of any channel: turn loop, forms, actions (rasa-sdk shape)."""
