"""Benchmarks of cropland, and the data-making tools they share with the tests.

Not installed with the package: run the benchmarks from a checkout.
"""
