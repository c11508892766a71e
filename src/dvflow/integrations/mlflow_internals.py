"""Every use dvflow makes of MLflow's internals (modules MLflow does not publish as
API), in one place.

``tests/unit/test_integrations.py`` checks that each still exists with the shape used
here, so that an MLflow upgrade that changes one fails a test, not a user's run.
"""

from __future__ import annotations

import logging
from pathlib import Path

# MLflow's limits (mlflow.utils.validation), read from the installed MLflow.
from mlflow.utils.validation import (
    MAX_DATASET_DIGEST_SIZE,
    MAX_DATASETS_PER_BATCH,
    MAX_ENTITY_KEY_LENGTH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

__all__ = [
    "MAX_DATASETS_PER_BATCH",
    "MAX_DATASET_DIGEST_SIZE",
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VAL_LENGTH",
    "MAX_TAG_VAL_LENGTH",
    "create_sqlite_schema",
    "is_valid_key",
]


def is_valid_key(key: str) -> bool:
    """Whether MLflow accepts ``key`` as a param, metric or tag name
    (``mlflow.utils.validation``: length, characters, no ``..`` path segments)."""
    from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

    return (
        len(key) <= MAX_ENTITY_KEY_LENGTH
        and bool(validate_param_and_metric_name(key))
        and not path_not_unique(key)
    )


_DB_LOGGER = "mlflow.store.db.utils"


def create_sqlite_schema(uri: str, artifacts: Path) -> None:
    """Create and migrate the schema of a SQLite store (``mlflow.store.tracking.
    sqlalchemy_store.SqlAlchemyStore``, which runs MLflow's migrations on open)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    # Its "Creating initial MLflow database tables..." lines say nothing a user of
    # dvflow needs: the store is dvflow's to create.
    logger = logging.getLogger(_DB_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        store = SqlAlchemyStore(uri, artifacts.as_uri())
        store.engine.dispose()
    finally:
        logger.setLevel(level)
