"""Kernels: sessions on jupyter-client, the Deno runtime, percent-script cells, the headless run.

Nothing here imports the language server; `envlens.lsp.kernels` translates LSP requests to
`KernelRegistry` calls, and `envlens run` drives `run.run_file`.
"""
