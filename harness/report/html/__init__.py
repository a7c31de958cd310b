"""The HTML drill report (one offline file with inline SVG charts)."""

from .page import html_report, write_html

__all__ = ["html_report", "write_html"]
