"""Locks: reading uv's lock (read), whether it still belongs to the declaration (drift), and
Lock Versions itself (versions). Below it: envs (uv, interpreters, inventory); the uv workspace that
hands a declaration to uv is envs/uv.py's, shared with builds."""
