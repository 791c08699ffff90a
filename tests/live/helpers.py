"""Shared bits of the live-path tests."""

from __future__ import annotations

NEW_MESSAGE = """subscription($after: Int) {
  newMessage(afterSequence: $after) { sequence message { text } } }"""
