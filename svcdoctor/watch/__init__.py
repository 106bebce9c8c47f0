"""``svcdoctor watch``: follow the cluster's watch streams and keep every Service's diagnosis current.

:mod:`~svcdoctor.watch.follow` lists and watches each kind with the ``kubernetes`` client,
:mod:`~svcdoctor.watch.affected` says which Services a change can affect,
:mod:`~svcdoctor.watch.loop` keeps the Snapshot and the Reports current, and
:mod:`~svcdoctor.watch.metrics` exports them to Prometheus.
"""
