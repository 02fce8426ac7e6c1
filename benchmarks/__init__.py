"""Benchmarks of the service against the design it replaces; run by ``make bench``, never by the tests.

``python -m benchmarks`` runs the suite and writes ``benchmarks/results/latest.json`` and
``latest.md``. ``old_style/`` rebuilds the replaced design for the comparison; ``local_aws`` serves
moto over HTTP for both.
"""
