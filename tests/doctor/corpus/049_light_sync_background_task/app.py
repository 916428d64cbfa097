"""Negative: a light sync background task."""

import logging
from collections import Counter

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

app = FastAPI()
logger = logging.getLogger("signup")

SIGNUPS: Counter[str] = Counter()


class Signup(BaseModel):
    email: str
    plan: str
    marketing_opt_in: bool = False


def record_signup_metric(plan: str) -> None:
    SIGNUPS[plan] += 1
    logger.info("signup plan=%s total=%d", plan, SIGNUPS[plan])


@app.post("/signup")
async def signup(body: Signup, background_tasks: BackgroundTasks) -> dict:
    if body.marketing_opt_in:
        background_tasks.add_task(record_signup_metric, body.plan)
    return {"email": body.email}
