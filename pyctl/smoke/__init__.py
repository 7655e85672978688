"""Smoke checks of a rolled-out data center; parsers of the tools' output live in submodules."""
