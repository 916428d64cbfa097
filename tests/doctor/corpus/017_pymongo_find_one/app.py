"""PSE101: pymongo Collection.find_one in an async route."""

from fastapi import FastAPI, HTTPException
from pymongo import MongoClient
from pymongo.collection import Collection

app = FastAPI()

MONGO_URL = "mongodb://mongo:27017"

client = MongoClient(MONGO_URL, serverSelectionTimeoutMS=2000)
users: Collection = client["accounts"]["users"]


@app.get("/users/{user_id}")
async def get_user(user_id: str) -> dict:
    doc = users.find_one({"_id": user_id}, {"password_hash": 0})
    if doc is None:
        raise HTTPException(status_code=404, detail="user not found")
    return doc
