"""The command line: ``svcdoctor`` and the kubectl plugin ``kubectl-svcdoctor``.

One module per command family — :mod:`~svcdoctor.cli.check` (``check``, ``scan``, ``demo``),
:mod:`~svcdoctor.cli.catalog` (``explain``, ``checks``), :mod:`~svcdoctor.cli.record`,
:mod:`~svcdoctor.cli.reach`, :mod:`~svcdoctor.cli.dns`, :mod:`~svcdoctor.cli.collect`,
:mod:`~svcdoctor.cli.snapshot` (``snapshot serve``) — on the flags of
:mod:`~svcdoctor.cli.options`, declared once. :mod:`~svcdoctor.cli.root` puts them together;
nothing outside this package imports it but the entry points.
"""

from svcdoctor.cli.root import app, kubectl_main, main, run

__all__ = ["app", "kubectl_main", "main", "run"]
