"""Running the broker as a service: health and readiness, Prometheus metrics, JSON logs with
request ids, and backup/restore (issue 18, part 4)."""
