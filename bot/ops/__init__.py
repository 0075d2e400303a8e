"""Operating kukey: the embedded HTTP server, Prometheus metrics, readiness checks and the ops endpoints."""
