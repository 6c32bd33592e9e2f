"""Runs the notebook inside an image that `envlens export --format apptainer` defined.

    apptainer run IMAGE.sif [OUTPUT.ipynb] [--timeout SECONDS]

(the runscript calls: python run.py NOTEBOOK DEFAULT_OUTPUT [OUTPUT.ipynb] [--timeout SECONDS])

The notebook in the image (or a `# %%` percent script, read with jupytext) runs headless with nbclient
on the image's own locked environment (its ipykernel), in the current folder, so relative paths in it
read the files beside you. The executed notebook goes to OUTPUT (default: DEFAULT_OUTPUT in the
current folder), also when a cell fails: then the exit code is 1 and the notebook holds the
traceback. This file is copied into the image as is; it needs only what the image has installed
(nbclient, nbformat, jupytext for scripts) and the standard library.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="apptainer run IMAGE.sif",
        description="Run the notebook in this image and write the executed notebook.",
    )
    parser.add_argument("notebook", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("default_output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("output", type=Path, nargs="?", help="where to write the executed notebook")
    parser.add_argument("--timeout", type=float, help="stop a cell after this many seconds")
    args = parser.parse_args(argv)
    out: Path = args.output or args.default_output
    if out.suffix != ".ipynb":
        parser.error(f"the output {out} must be a .ipynb notebook")
    if not out.absolute().parent.is_dir():
        parser.error(f"the folder of {out} does not exist")

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if args.notebook.suffix == ".py":
        import jupytext

        nb = jupytext.read(args.notebook, fmt="py:percent")
    else:
        nb = nbformat.read(args.notebook, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb,
        timeout=args.timeout,
        kernel_name="python3",  # this image's ipykernel, in its locked environment
        resources={"metadata": {"path": os.getcwd()}},
    )
    code = 0
    try:
        client.execute()
    except CellExecutionError as exc:
        print(f"run: a cell failed: {exc.ename}: {exc.evalue}", file=sys.stderr)
        code = 1
    except Exception as exc:  # the kernel died or did not start: say so, keep what ran
        print(f"run: the run stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    nbformat.write(nb, str(out))  # type: ignore[no-untyped-call]
    print(f"run: wrote {out}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
