"""The one version string, read from the installed distribution's metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eegdeploy")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
