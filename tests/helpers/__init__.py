"""What several test modules share: fakes, result writers, the real reduced asv run."""
