"""Notification infrastructure: the durable outbox worker (``notify/outbox.py``), the email and SMS senders
(``notify/senders.py``) and the templates. The use cases live in ``services/notify.py`` (``NotifyService``):
domains call ``await notify.notify(user_id, Kind.X, title, body, data)``.
"""
