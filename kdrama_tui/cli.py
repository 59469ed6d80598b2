"""The ``kdrama-tui`` command line (see CONTRACT.md for the list of commands)."""

from __future__ import annotations

import argparse
import sys

from kdrama_tui import __version__
from kdrama_tui.commands import (
    apikeys,
    backup,
    console,
    demo,
    ingest,
    migrate,
    playback_key,
    run,
    serve,
    signing_keys,
    storage,
    users,
    worker,
)
from kdrama_tui.commands.common import CommandError
from kdrama_tui.errors import ConfigError, DomainError

COMMAND_MODULES = [run, serve, console, migrate, users, apikeys, signing_keys, playback_key, worker, storage, backup,
                   ingest, demo]
DEFAULT_COMMAND = "run"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kdrama-tui", description="Self-hosted K-drama streaming.")
    parser.add_argument("--version", action="version", version=f"kdrama-tui {__version__}")
    parser.add_argument("--config", default=None, help="TOML file overlaying config/default.toml "
                                                       "(or KDRAMA_CONFIG)")
    sub = parser.add_subparsers(dest="command")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command is None:  # bare `kdrama-tui` runs everything
        args = parser.parse_args([*argv, DEFAULT_COMMAND])
    try:
        return int(args.handler(args) or 0)
    except (ConfigError, CommandError) as exc:
        print(f"kdrama-tui: {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"kdrama-tui: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"kdrama-tui: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
