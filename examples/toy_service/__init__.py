"""ToyTrain: a complete jobferry adapter for a small JSON-over-HTTP training service (see README.md)."""
