"""Training engine: the plain training loop, schedules, checkpoint io and logging."""
