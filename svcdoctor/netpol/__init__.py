"""NetworkPolicy: decide, and explain, whether a client may reach a Pod (pure, over a Snapshot).

- :mod:`svcdoctor.netpol.interface` — the frozen dataclasses the evaluator takes and returns;
- :mod:`svcdoctor.netpol.model` — policies compiled once (selectors, CIDRs, defaults);
- :mod:`svcdoctor.netpol.evaluator` — :class:`~svcdoctor.netpol.evaluator.Evaluator`: decide,
  explain, suggest the smallest change;
- :mod:`svcdoctor.netpol.matrix` — the reachability matrix behind ``svcdoctor reach``;
- :mod:`svcdoctor.netpol.service` — what the step-6 checks share (a Service's backends, DNS Pods).
"""
