"""dvflow inside MLflow: the plug-ins MLflow finds through entry points (pyproject.toml).

- ``mlflow.run_context_provider``: ``context.DvflowRunContext`` tags any
  ``mlflow.start_run()`` made inside a DVC project or stage with dvflow's code and DVC tags.
- ``mlflow.dataset_source``: ``source.DvcDatasetSource``, so that the datasets dvflow logs
  (source type ``dvc``) resolve with ``mlflow.data.get_source`` and load through DVC.

They run inside every MLflow user's process: importing them costs next to nothing, they
never raise into MLflow, and they never import DVC unless asked (``DVFLOW_RUN_CONTEXT``).
"""
