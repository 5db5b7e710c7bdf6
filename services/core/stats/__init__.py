"""Figures the panel plots: traffic per hour, handoff rate, reply time (from the tables)."""
