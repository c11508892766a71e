"""The recorder: the second process of ``dvflow repro``, and the typed, versioned
messages (``protocol``) that dvflow's process sends it."""
