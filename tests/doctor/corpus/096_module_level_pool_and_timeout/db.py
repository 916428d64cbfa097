from sqlalchemy import create_engine

DATABASE_URL = "postgresql+psycopg2://app:secret@db/app"

engine = create_engine(DATABASE_URL, pool_size=60, max_overflow=40, pool_pre_ping=True)
