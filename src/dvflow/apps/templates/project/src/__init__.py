"""The project's pipeline stages: one script per stage of dvc.yaml."""
