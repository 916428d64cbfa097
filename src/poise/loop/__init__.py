"""What happens on the event loop: step timing, the watchdog thread, blocks and stalls.

It also measures the thread pool (``run_in_threadpool``) per request. Everything here
writes into the request ledger or into incidents; ``observe`` reads them.
"""
