"""The Kubernetes API over a recorded snapshot: what ``svcdoctor snapshot serve`` runs."""
