"""Passwords, tokens, principals and role checks."""
