"""Running the stage playbooks: ansible-runner, progress, run records, lock, idempotency gate."""
