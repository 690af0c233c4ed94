"""callreport: a self-hostable Call Report service."""

__version__ = "0.1.0"
