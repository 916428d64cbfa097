"""A small order service in two flavours: ``burnt`` (the classic async pitfalls) and ``healthy``.

``common`` holds what both share, ``payments`` is the fake payment provider they call.
"""
