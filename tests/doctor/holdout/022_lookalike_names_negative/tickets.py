import asyncio
import itertools


class TicketStore:
    def __init__(self) -> None:
        self._items: dict[int, dict] = {}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def get(self, ticket_id: int) -> dict | None:
        return self._items.get(ticket_id)

    def put(self, ticket: dict) -> None:
        self._items[ticket["id"]] = ticket


def open_ticket(store: TicketStore, title: str) -> dict:
    ticket = {"id": store.next_id(), "title": title, "status": "open"}
    store.put(ticket)
    return ticket


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
