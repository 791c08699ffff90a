"""Permissions: THE visibility policy (:mod:`.visibility`) and field-level rules
(:mod:`.fields`)."""
