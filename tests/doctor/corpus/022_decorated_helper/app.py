"""PSE101: blocking call inside a helper wrapped by a custom decorator."""

from fastapi import FastAPI

from helpers import fetch_profile

app = FastAPI()


@app.get("/profiles/{user_id}")
async def profile(user_id: int) -> dict:
    return fetch_profile(user_id)
