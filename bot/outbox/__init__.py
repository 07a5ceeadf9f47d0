"""Getting queued messages out: the outbox delivery loop (``delivery``), the per-chat and global
send pacing it shares with interactive replies (``pacing``), and the clock of ``ocop-bot run``
that computes and dispatches reminders into the outbox (``scheduler``).

Import from the modules themselves: this package holds nothing of its own, so importing the
pacer (as every channel does) does not also load APScheduler.
"""
