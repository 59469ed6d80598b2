"""kdrama-tui: a self-hosted K-drama streaming site managed from a Textual dashboard."""

__version__ = "0.1.0"
