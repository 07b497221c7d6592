"""Use cases, one module per domain (``services/<domain>.py``), below ``handlers/`` and above ``storage/``.

A service takes typed stores, other services, the clock and the emitter in its constructor; never ``Deps``,
never an ``EventContext``. ``wiring.py`` builds each one once.
"""
