"""PSE105 + PSE108: smtplib.SMTP without a timeout in a sync route."""

import smtplib
from email.message import EmailMessage

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()

SMTP_HOST = "smtp.example.com"


class Feedback(BaseModel):
    email: str
    text: str


@app.post("/feedback")
def send_feedback(feedback: Feedback) -> dict:
    msg = EmailMessage()
    msg["From"] = "noreply@example.com"
    msg["To"] = "feedback@example.com"
    msg["Reply-To"] = feedback.email
    msg["Subject"] = "Website feedback"
    msg.set_content(feedback.text)
    with smtplib.SMTP(SMTP_HOST, 587) as smtp:
        smtp.starttls()
        smtp.send_message(msg)
    return {"sent": True}
