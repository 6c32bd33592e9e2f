"""`envlens export PATH --format requirements|pylock|apptainer [-o OUT]` and
`envlens import PATH FILE [--dry-run|--yes]` (a preview first; written only when confirmed)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from envlens import trust
from envlens.cli.common import add_trust
from envlens.settings import Settings


def register(sub: Any) -> None:
    e = sub.add_parser("export", help="export the lock: requirements.txt, pylock.toml or Apptainer")
    e.add_argument("path", type=Path)
    e.add_argument(
        "--format", choices=("requirements", "pylock", "apptainer"), default="requirements"
    )
    e.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="where to write ('-' for stdout; default: beside the file)",
    )
    add_trust(e)
    e.set_defaults(func=export_cmd)

    i = sub.add_parser(
        "import",
        help="replace the declaration with a requirements.txt or "
        "environment.yml (shows a preview first)",
    )
    i.add_argument("path", type=Path)
    i.add_argument("file", type=Path, metavar="FILE")
    g = i.add_mutually_exclusive_group()
    g.add_argument("--dry-run", action="store_true", help="show the preview, write nothing")
    g.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    i.add_argument("--json", action="store_true", help="print the preview as JSON")
    from envlens.cli.edit_cmd import add_sync

    add_sync(i)
    i.set_defaults(func=import_cmd)


def export_cmd(args: argparse.Namespace) -> int:
    from envlens.export import default_output, export
    from envlens.fileio import atomic_write_text
    from envlens.locking.drift import require_fresh_lock
    from envlens.locking.export import check_exportable
    from envlens.resolve import resolve

    settings = Settings.from_env()
    resolution = resolve(args.path, settings=settings)
    check_exportable(resolution)  # a conda declaration: its own lock is what to share
    # Exporting asks uv to read the lock, and the Apptainer export locks ipykernel in: uv may run a
    # source's build backend, so the declaration must be approved first.
    if resolution.lock_text is None:
        require_fresh_lock(resolution, settings)  # "has no lock": nothing to approve yet
    trust.require_trusted(resolution, override=trust.batch_override(args.trust))
    to_stdout = args.output is not None and str(args.output) == "-"
    out = default_output(resolution, args.format) if to_stdout or not args.output else args.output
    text = export(resolution, args.format, settings, output=out)
    if to_stdout:
        sys.stdout.write(text)
        return 0
    atomic_write_text(out, text)
    print(f"Wrote {out}", file=sys.stderr)
    return 0


def import_cmd(args: argparse.Namespace) -> int:
    from envlens.edit import apply_edit
    from envlens.importer import preview_import

    preview = preview_import(args.path, args.file, settings=Settings.from_env())
    if args.json:
        print(json.dumps(preview.to_json(), indent=2))
    else:
        print("\n".join(preview.lines()))
    if not preview.changes_anything:
        print("Nothing to change.", file=sys.stderr)
        return 0
    if args.dry_run:
        print("Dry run: nothing written.", file=sys.stderr)
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("Nothing written: run again with --yes to apply.", file=sys.stderr)
            return 0
        answer = input(f"Apply to {preview.path.name}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing written.", file=sys.stderr)
            return 0
    assert preview.edit is not None
    from envlens.cli.edit_cmd import sync_after_edit
    from envlens.envs import jobs

    with jobs.running("import", f"Import {args.file.name} into {args.path.name}", args.path) as job:
        job.append("\n".join(preview.lines()))
        apply_edit(preview.edit)
        print(f"Updated {preview.edit.path}", file=sys.stderr)
        if args.sync:
            sync_after_edit(args, job)
    return 0
