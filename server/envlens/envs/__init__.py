"""Environments: the store of built environments (store), its backends (uv, conda, project),
the one module that runs uv (uv), interpreters, what is installed (inventory), the prewarmed pool.
Build through `envlens.environment.ensure_environment`, which decides whether a lock is used."""
