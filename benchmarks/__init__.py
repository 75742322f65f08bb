"""Benchmarks of cropland. Besides cropland they import one module of tests/,
:mod:`tests.published_format`, the writer of the published format the tests use too.

Not installed with the package: run the benchmarks from a checkout.
"""
