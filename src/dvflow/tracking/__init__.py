"""WRITE to and read from MLflow: the tag schema, the store, the run writer, comparisons.

Knows MLflow; reads what to write from a ``dvflow.snapshot.Snapshot``.
"""
