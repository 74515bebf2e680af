"""Orders service: the demo application traced by otel-import-tracer."""
