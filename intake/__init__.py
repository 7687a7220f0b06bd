"""Document intake: content checks of uploaded files and the attachment store."""
