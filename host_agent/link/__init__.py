"""The outbound link to the broker, with backoff."""
