"""Worker side: the Celery app and tasks, email rendering and the providers."""
