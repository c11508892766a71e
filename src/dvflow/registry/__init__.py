"""The model registry: DVC-tracked models published as MLflow registered model versions
(``dvflow register``), gated on a lineage a teammate can rebuild, and fetched back
through DVC (``dvflow registry fetch``)."""
