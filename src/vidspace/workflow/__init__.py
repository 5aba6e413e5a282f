"""Glue between the package and the workflow tools: the DVC export."""
