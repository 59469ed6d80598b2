"""kdrama-tui: a self-hosted K-drama streaming site managed from a Textual dashboard."""

__version__ = "0.1.0"

import logging as _logging

# A library's logs go where the application configures them (`serve` does); commands print their own
# one-line errors, so nothing reaches stderr through logging's last-resort handler.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
