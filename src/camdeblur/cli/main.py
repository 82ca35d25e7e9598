"""``camdeblur`` entry point.

Each sub-command lives in its own module ``camdeblur.cli.<name>`` exposing
``add_parser(subparsers) -> argparse.ArgumentParser`` (which sets ``func=run``) and
``run(args) -> int``. Command modules import torch and friends inside ``run`` so ``--help`` is fast.

Errors: a :class:`~camdeblur.errors.CamdeblurError` becomes one line on stderr and exit code 2;
anything else is reported in one line as an internal error (exit 1); ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Sub-command modules in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "simulate",
    "train",
    "deblur",
    "eval",
    "kernels",
    "blur2blur",
    "bench",
    "models",
    "convert",
)


def build_parser() -> argparse.ArgumentParser:
    from camdeblur import __version__

    parser = argparse.ArgumentParser(
        prog="camdeblur",
        description="Deblurring models for your own camera, trained from unpaired blurry and sharp captures.",
    )
    parser.add_argument("--version", action="version", version=f"camdeblur {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod_name = f"camdeblur.cli.{name.replace('-', '_')}"
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from camdeblur.errors import CamdeblurError

    try:
        code = args.func(args)
    except CamdeblurError as exc:
        if debug:
            raise
        print(f"camdeblur: error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("camdeblur: interrupted (checkpoints written so far are intact; rerun to resume)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last-resort one-line report
        if debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"camdeblur: internal error: {type(exc).__name__}: {msg} (rerun with --debug for the traceback; please report it)",
              file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
