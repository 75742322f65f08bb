"""Describe a prepared dataset: class counts per split, sequence lengths, months, per-channel
pixel statistics and image mosaics per class, as JSON, PNG figures and TensorBoard images.

The pipeline behind ``scripts/describe.py`` is :func:`cropland.describe.describe.describe`.
"""
