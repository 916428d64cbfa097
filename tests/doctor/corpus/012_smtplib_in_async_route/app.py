"""PSE101: sending mail with smtplib from an async route."""

import smtplib
from email.message import EmailMessage

from fastapi import FastAPI
from pydantic import BaseModel, EmailStr

app = FastAPI()

SMTP_HOST = "smtp.example.com"
SUPPORT_ADDRESS = "support@example.com"


class ContactForm(BaseModel):
    email: EmailStr
    subject: str
    message: str


@app.post("/contact")
async def contact(form: ContactForm) -> dict:
    msg = EmailMessage()
    msg["From"] = SUPPORT_ADDRESS
    msg["To"] = SUPPORT_ADDRESS
    msg["Reply-To"] = form.email
    msg["Subject"] = form.subject
    msg.set_content(form.message)
    with smtplib.SMTP(SMTP_HOST, 587, timeout=10) as smtp:
        smtp.send_message(msg)
    return {"sent": True}
