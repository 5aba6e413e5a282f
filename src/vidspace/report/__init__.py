"""The report: Findings, sections, markdown helpers and figures."""

from vidspace.report.assemble import write_report

__all__ = ["write_report"]
