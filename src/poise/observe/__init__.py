"""What poise shows: per-route aggregates, recent ledgers, the admin API and its views.

It reads finished ledgers; nothing in it runs before a request's response is sent.
"""
