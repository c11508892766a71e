"""The applications built on the library: ``dvflow init`` (scaffold), ``demo`` and ``ui``."""
