"""Contracts: OpenAPI documents, Hypothesis strategies and contract suites (built in a later issue)."""
