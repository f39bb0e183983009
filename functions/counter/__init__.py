"""counter: how many notifications each user has published; a participant of the publish transaction."""
