from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from database import Base, get_db

router = APIRouter(prefix="/users", tags=["users"])


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


@router.get("")
def list_users(db: Session = Depends(get_db)) -> list[dict]:
    rows = db.scalars(select(User).limit(100)).all()
    return [{"id": u.id, "email": u.email} for u in rows]


@router.get("/count")
async def count_users(db: Session = Depends(get_db)) -> dict[str, int]:
    total = db.scalar(select(func.count()).select_from(User))
    return {"total": total or 0}
