"""Result schema and its renderers (Rich, Markdown, plots)."""

from eegdeploy.report.schema import SCHEMA_VERSION, CompressResult, StageFigures, validate_report

__all__ = ["SCHEMA_VERSION", "CompressResult", "StageFigures", "validate_report"]
