"""Evaluation: datasets of items, scorers, runs through the gateway, and the statistics that
compare two runs and gate a release."""
