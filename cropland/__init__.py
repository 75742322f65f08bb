"""cropland: crop-type classification from Sentinel-2 image time series."""

from cropland.run_names import register_resolvers

__version__ = "0.1.0"

# The configs in conf/ use these; registered on import so every entry point and test has them.
register_resolvers()
