"""PSE101 + PSE108: sync SQLAlchemy Session injected into async routes."""

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import get_db
from models import User

app = FastAPI()


@app.get("/users")
async def list_users(db: Session = Depends(get_db)) -> list[dict]:
    users = db.query(User).order_by(User.id).limit(50).all()
    return [{"id": u.id, "email": u.email} for u in users]


@app.get("/users/{user_id}")
async def get_user(user_id: int, db: Session = Depends(get_db)) -> dict:
    user = db.execute(select(User).where(User.id == user_id)).scalar_one_or_none()
    if user is None:
        raise HTTPException(status_code=404, detail="user not found")
    return {"id": user.id, "email": user.email}
