import os

from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql+psycopg2://app@db/app")
REPLICA_URL = os.getenv("REPLICA_URL", "postgresql+psycopg2://app@replica/app")


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10):
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


engine = create_engine(DATABASE_URL, pool_size=60, max_overflow=20, pool_recycle=1800)
replica_engine = make_engine(REPLICA_URL, pool_size=40, max_overflow=40)
reporting_engine = make_engine(REPLICA_URL, pool_size=10, max_overflow=5)

SessionLocal = sessionmaker(bind=engine, autoflush=False)


class Base(DeclarativeBase):
    pass


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
