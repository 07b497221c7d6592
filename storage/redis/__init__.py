"""Redis-backed repositories (presence)."""
