"""The checks: one per file, registered in :mod:`svcdoctor.checks.registry`."""
