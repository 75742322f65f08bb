"""Scoring a trained classifier on a prepared file: predictions, intervals, early season."""
