"""Renderings of a comparison: JUnit XML for CI, Markdown for a pull request, a standalone HTML page."""

from __future__ import annotations

from steward.evals.reports.html import render_html
from steward.evals.reports.junit import render_junit
from steward.evals.reports.markdown import render_markdown

__all__ = ["render_html", "render_junit", "render_markdown"]
