"""``camdeblur models``: list registered architectures."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list registered network architectures")
    p.add_argument("pattern", nargs="?", default="*", help="glob pattern, e.g. 'nafnet*'")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from camdeblur.nets import list_models

    for name in list_models(args.pattern):
        print(name)
    return 0
