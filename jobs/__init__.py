"""The application layer: each workflow of the ``egress`` command as a job.

A job takes typed inputs (a frozen dataclass), does the work through the domain (``smtp_egress``) and
``smtp_egress.checks``, and returns a typed result; it prints nothing and reads no flags or environment.
The command line (``smtp_egress.scripts``) parses arguments, calls a job, renders its result and maps it to an
exit code; a scheduled task, a server or a test calls the same job directly. Dependencies point one way:
scripts -> jobs -> checks -> the domain.
"""
