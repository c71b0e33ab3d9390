"""Model versions from the command line: `python -m worker.model_versions COMMAND`.

`list` shows the registered versions, newest first, and the active one.

`register` stores a candidate's files (any of --digits, --strings, --strings-pages, --combination; a role left
out is read with the shipped file) with its evaluation (--metrics FILE.json); `promote ID`
makes a version the one every worker reads with (taken up as each worker starts its next
document, no restart); `rollback ID` promotes again a version that was active before; `retire
ID` retires the active version with none after it (workers read with the shipped files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import models_registry as registry
from core.db import session_scope
from core.schema import ModelVersion
from core.settings import Settings

CHANGES = {"promote": (registry.promote, "promoted"), "rollback": (registry.rollback, "rolled back to"),
           "retire": (registry.retire, "retired")}


def _line(version: ModelVersion) -> str:
    files = ", ".join(f"{role} {sha[:12]}" for role, sha in sorted((version.files or {}).items()))
    metrics = f"  metrics {json.dumps(version.metrics, sort_keys=True)}" if version.metrics else ""
    return (f"{version.id:>4}  {version.status:<9}  {version.name}  "
            f"[{files or 'shipped files'}]{metrics}")


def run(settings: Settings, args: argparse.Namespace) -> str:
    """Do what the parsed command line asks; returns what to print."""
    with session_scope(settings) as session:
        if args.command == "list":
            found = registry.versions(session)
            active = registry.active(session)
            head = (f"active: {active.id} ({active.name})" if active
                    else "active: none (workers read with the shipped files)")
            return "\n".join([head, *(_line(v) for v in found)])
        if args.command == "register":
            files = {role: path for role in registry.ROLES if (path := getattr(args, role)) is not None}
            version = registry.register(session, settings, files, args.name, args.note,
                                        registry.load_metrics(args.metrics))
            return f"registered version {version.id}: {_line(version)}"
        change, done = CHANGES[args.command]
        version = change(session, args.id)
        return f"{done} version {version.id} ({version.name}): workers take it up at their next document"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m worker.model_versions",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="registered versions, newest first")
    register = commands.add_parser("register", help="store a candidate's files")
    for role, suffix in registry.ROLES.items():
        register.add_argument(f"--{role.replace('_', '-')}", type=Path, help=f"the {role} file ({suffix})")
    register.add_argument("--name", help="a name of its own (unique); default: from its files")
    register.add_argument("--note", help="what it is, in a few words")
    register.add_argument("--metrics", type=Path, help="a JSON file of its evaluation")
    for name, help_text in (("promote", "make it the active version"),
                            ("rollback", "make a version that was active before active again"),
                            ("retire", "retire the active version: back to the shipped files")):
        commands.add_parser(name, help=help_text).add_argument("id", type=int)
    args = parser.parse_args(argv)
    try:
        print(run(Settings.from_env(), args))
    except registry.RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
