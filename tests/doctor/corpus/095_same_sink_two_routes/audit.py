import sqlite3

audit_db = sqlite3.connect("audit.db", check_same_thread=False, isolation_level=None)


def record(action: str, order_id: int) -> None:
    audit_db.execute("INSERT INTO audit (action, order_id) VALUES (?, ?)", (action, order_id))
