from pydantic import BaseModel


class User(BaseModel):
    username: str


class Order(BaseModel):
    id: int
    owner: str
    total: float
