"""DNS: the records the Kubernetes DNS specification gives a Service, and how a client resolves names.

Pure functions over the Snapshot (``records``, ``domain``, ``client``); the queries themselves are
sent by :mod:`svcdoctor.probe.dns_query`.
"""
