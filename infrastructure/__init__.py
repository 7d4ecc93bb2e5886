"""Adapters behind the domain's ports: event stores, migrations, projector, read models, settings.

Import direction is ``interfaces -> infrastructure -> domain``; nothing here is built at
import time, the composition root picks and opens the concrete adapters.
"""
