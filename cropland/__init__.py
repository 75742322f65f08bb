"""cropland: crop-type classification from Sentinel-2 image time series."""

__version__ = "0.1.0"
