"""Background work on the PostgreSQL job queue (procrastinate): the tasks and the worker."""
