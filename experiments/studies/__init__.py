"""One-off studies behind the documentation's figures, each a ``python -m`` command."""
