"""poise's test helpers: the pytest plugin (entry point ``pytest11``) and what it offers.

Fixtures that fail a test when the loop blocks, burst helpers and upstream fakes come
with the testing issue; for now the plugin reports the poise version in the header.
"""
