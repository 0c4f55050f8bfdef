"""Scenario files, their runner and the embedded virtual-time mock."""
