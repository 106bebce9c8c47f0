"""Step 9: probes sent to addresses from the cluster's own objects, and what their results mean.

``plan`` (pure) picks the targets; ``tcp``, ``syn`` and ``dns_query`` send them; ``gather`` is the
entry point the CLI and ``record`` call; ``analysis`` (pure) reads recorded results for the checks.
"""
