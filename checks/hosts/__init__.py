"""pytest-testinfra checks of a delivery worker host (``checks/hosts/test_worker_host.py``).

Run them against a real host over SSH (``pytest checks/hosts --hosts=ssh://admin@10.0.1.23``, README "The worker
host"), or against a booted container on this machine through :mod:`.nsenter` (``--hosts=nsenter://PID``),
which is how CI checks the host it builds with ``scripts/dev/worker-host``.
"""
