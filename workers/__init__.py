"""Worker side: the Celery app (configuration), per-process state, thin tasks, the sweeper, delivery and the providers."""
