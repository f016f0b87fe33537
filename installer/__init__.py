"""kinstall: a Kubernetes cluster installer for your own machines."""

__version__ = "0.1.0"
