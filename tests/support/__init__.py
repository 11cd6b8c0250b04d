"""Test helpers: stand-ins for remote services, shared by test modules."""
