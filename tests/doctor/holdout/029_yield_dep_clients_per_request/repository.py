from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def status(self, order_id: int) -> str | None:
        query = text("SELECT status FROM orders WHERE id = :id")
        return await self.session.scalar(query, {"id": order_id})
