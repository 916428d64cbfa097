"""PSE106: a sync background task doing SMTP work."""

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel

from mailer import send_welcome_email

app = FastAPI()


class NewUser(BaseModel):
    email: str
    name: str


@app.post("/users")
async def create_user(user: NewUser, background_tasks: BackgroundTasks) -> dict:
    background_tasks.add_task(send_welcome_email, user.email, user.name)
    return {"email": user.email}
