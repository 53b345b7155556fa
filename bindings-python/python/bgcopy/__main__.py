"""``python -m bgcopy run [--state-dir DIR] [--until-idle] [-q]``: the engine of a state
directory in the foreground, like the ``bgcopy run`` command, for machines with the
Python package but not the command. It stands for election (another engine may run;
this one takes over when it stops), logs each job's state changes and errors from any
process on stderr, and stops cleanly (exit 130) on Ctrl-C or SIGTERM; with
``--until-idle`` it exits 0 once no job is queued, running or waiting for a retry."""

from __future__ import annotations

import argparse
import datetime
import signal
import sys
from types import FrameType
from typing import List, Optional

from . import CopyManager


def _log(line: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    print(f"{now.replace('+00:00', 'Z')} {line}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgcopy",
                                     description="bgcopy's engine in the foreground")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the transfers of a state directory")
    run.add_argument("--state-dir", help="the state directory (default: the platform's)")
    run.add_argument("--until-idle", action="store_true",
                     help="exit once no job is queued, running or waiting for a retry")
    run.add_argument("-q", "--quiet", action="store_true", help="log nothing")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    with CopyManager.open(args.state_dir) as manager:
        try:
            end = manager.serve(until_idle=args.until_idle,
                                log=None if args.quiet else _log)
        except KeyboardInterrupt:
            return 130
    return 0 if end == "idle" else 130


if __name__ == "__main__":
    sys.exit(main())
