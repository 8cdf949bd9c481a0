"""Hardening: hostile browsers, bad input, runaway handlers (issue 9). One module per concern."""
