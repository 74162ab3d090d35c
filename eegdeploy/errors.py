"""Errors the library raises. The CLI turns each into one line on stderr.

Every message names the problem and the fix, in the way Rich does:
``invalid value for ratio, expected a number in (0, 1) (not 1.5)``.
Exit codes: 2 for bad input (``InputError`` and subclasses), 1 for an
internal failure (any other ``EegDeployError`` or an unexpected exception).
"""

from __future__ import annotations


class EegDeployError(Exception):
    """Base of every error eegdeploy raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message.rstrip(". ")
        if self.fix:
            text += f"; {self.fix.rstrip('. ')}"
        return " ".join(text.split())


class InputError(EegDeployError):
    """Something the user gave us (file, flag, profile, data) is wrong."""

    exit_code = 2


class ConfigError(InputError):
    """A flag, profile or config value is invalid."""


class CheckpointError(InputError):
    """A checkpoint is missing, unreadable, unsafe, or does not fit the architecture."""


class DataError(InputError):
    """Data files or arrays are missing, malformed or unusable."""


class UnsupportedLayerError(InputError):
    """Slimming met a layer it cannot handle; the user can exclude it with --keep."""


class ExportError(EegDeployError):
    """ONNX export, simplification or loading failed."""


class ParityError(EegDeployError):
    """Two models that must compute the same thing do not (slim vs pruned, ONNX vs torch)."""


class OutputError(InputError):
    """The output location cannot be written."""


def invalid_value(field: str, value: object, expected: str) -> ConfigError:
    """Build the house-style message: ``invalid value for F, expected E (not V)``."""
    return ConfigError(f"invalid value for {field}, expected {expected} (not {value!r})")


def did_you_mean(value: str, valid: "list[str] | tuple[str, ...] | set[str]") -> str | None:
    """The valid name closest to ``value``, ignoring case and ``-``/``_``; None when nothing is close."""
    import difflib

    def norm(s: str) -> str:
        return str(s).lower().replace("_", "-")

    by_norm = {norm(v): v for v in valid}
    if norm(value) in by_norm:
        return by_norm[norm(value)]
    close = difflib.get_close_matches(norm(value), list(by_norm), n=1, cutoff=0.75)
    return by_norm[close[0]] if close else None


def unknown_name(field: str, value: str, valid: "list[str] | tuple[str, ...] | set[str]") -> ConfigError:
    """An unknown registry key: the sorted list of valid ones, and the closest one when there is one."""
    choices = ", ".join(repr(v) for v in sorted(valid))
    guess = did_you_mean(value, valid)
    return ConfigError(f"unknown {field} {value!r}, expected one of {choices}",
                       fix=f"did you mean {guess!r}?" if guess else None)
