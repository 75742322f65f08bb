"""Dataset layout, synthetic data, preparation and the Lightning DataModule."""
