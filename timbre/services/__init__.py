"""What combines the store with the layers above it: registry, experiments, engines, spaces.

The only place besides ``timbre.sources`` that holds a :class:`~timbre.store.Store`; the app,
the CLI and the API call these functions rather than the store and the models themselves.
"""
