"""Persistence: tortoise models, configuration, migrations and shared queries."""
