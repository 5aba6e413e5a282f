"""Plumbing every level uses: configuration, file I/O, errors, the CLI runner, linear algebra."""
