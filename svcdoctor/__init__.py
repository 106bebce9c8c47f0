"""svcdoctor: why can't I reach my Service? A ranked diagnosis of a Kubernetes Service."""

__version__ = "0.1.0"
