"""The only modules that touch DVC's or MLflow's private internals, one adapter each.

``tests/unit/test_integrations.py`` fails when an upgrade of either tool changes them.
"""
