"""The workspace a command works on, and how a checkpoint in it is shown (its URL)."""

from __future__ import annotations

import argparse

from checkpoint import Workspace


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.coerce(args.workspace)


def _checkpoint_url(ws: Workspace, key: str) -> str:
    return f"{ws.url.rstrip('/')}/{key}"
