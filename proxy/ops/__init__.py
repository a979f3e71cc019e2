"""The proxy's account of itself: Prometheus metrics and the operational log."""
