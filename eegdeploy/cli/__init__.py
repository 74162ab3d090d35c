"""The ``eegdeploy`` command line: parse, call the library, render.

Each subcommand lives in its own module here and exposes ``add_parser(sub)``,
which registers its flags and ``set_defaults(run=...)``. Command modules import
nothing heavy at module level (no torch), so ``eegdeploy bench FILE.onnx``
works where only onnxruntime, numpy and rich are installed.

Exit codes: 0 success, 2 bad input, 1 internal failure, 130 on Ctrl-C,
143 on SIGTERM. Errors are one line on stderr; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
import warnings
from pathlib import Path
from typing import Sequence

from eegdeploy._version import __version__
from eegdeploy.errors import EegDeployError

# Order here is the order in --help.
COMMANDS: tuple[str, ...] = (
    "compress",
    "train",
    "export",
    "bench",
    "inspect",
    "sensitivity",
    "sweep",
    "search",
    "supernet",
    "report",
    "profiles",
    "demo",
)


class Terminated(BaseException):
    """Raised from the SIGTERM handler so cleanup code (finally, temp files) runs."""


def _on_sigterm(signum: int, frame: object) -> None:  # pragma: no cover - signal path
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eegdeploy",
        description=(
            "Compress EEG classifiers for deployment: prune (lfp, sfp, nsfp, uwmp), "
            "recover accuracy, slim physically, export verified ONNX and benchmark "
            "it against the unpruned baseline."
        ),
    )
    parser.add_argument("--version", action="version", version=f"eegdeploy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"eegdeploy.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def _error(message: str) -> None:
    from eegdeploy.text import clean  # messages quote file contents: no escape sequence reaches the terminal

    print(f"eegdeploy: error: {clean(message, max_len=2000)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    if not args.debug:
        # Third-party chatter that says nothing about the user's run (torcheeg's CCNN applies
        # Dropout2d to a 2-D tensor; exporters warn about tracing internals).
        warnings.filterwarnings("ignore", message=r"dropout2d: Received a 2-D input")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        from rich.console import Console

        console = Console(stderr=False)
        code = args.run(args, console)
        return int(code or 0)
    except EegDeployError as err:
        if args.debug:
            traceback.print_exc()
        _error(err.one_line())
        return err.exit_code
    except KeyboardInterrupt:
        _error("interrupted; finished artifacts were kept, nothing half-written was left")
        return 130
    except Terminated:
        _error("terminated; finished artifacts were kept, nothing half-written was left")
        return 143
    except Exception as err:  # an internal failure: short hint, traceback only with --debug
        from eegdeploy.io import disk_full_error, is_disk_full

        if is_disk_full(err):  # a full disk is the user's to fix, like any refused input
            where = Path(err.filename).parent if getattr(err, "filename", None) else Path.cwd()
            _error(disk_full_error(where).one_line())
            return 2
        if args.debug:
            traceback.print_exc()
            _error(f"internal error: {type(err).__name__}: {err}")
        else:
            first = str(err).splitlines()[0] if str(err) else ""
            _error(
                f"internal error: {type(err).__name__}: {first[:300]}; "
                "rerun with --debug for the traceback and report it"
            )
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
