"""Analyses over facts: types and constants, the project index, and (later) dataflow and call graphs."""
