"""The kinstall command line: one module per command group, each command parsing its parameters,
calling its domain and rendering the result. This package is the only place that prints or exits.

  base       the `kinstall` group (errors to messages and exit codes), shared options
  inventory  validate, plan, artifacts, bundle, schema, plugins: the inventory alone
  lifecycle  up, upgrade, reset, remove-node, certs, etcd: runs that change the hosts
  observe    runs, verify, status: what the cluster and its records say
  lab        the local lab"""

from installer.cli import inventory, lab, lifecycle, observe  # noqa: F401 - each registers its commands
from installer.cli.base import cli, main

__all__ = ["cli", "main"]
