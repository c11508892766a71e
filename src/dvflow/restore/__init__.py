"""Reading recorded runs back: find one, list them, show a run's lineage, diff two,
and restore or rebuild the state that made a run."""
