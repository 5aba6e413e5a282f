"""The report: Findings, sections, markdown helpers and figures (write_report in
:mod:`.assemble`)."""
