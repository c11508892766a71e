"""DVC experiments as MLflow runs: ``dvflow exp sync`` (``sync.py``) reads what ``dvc exp
show`` shows (``reading.py``) and makes it one MLflow run per experiment or commit."""
