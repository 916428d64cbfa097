import smtplib
from email.message import EmailMessage

SMTP_HOST = "smtp.example.com"
SMTP_USER = "mailer"
SMTP_PASSWORD = "secret"


def send_welcome_email(to: str, name: str) -> None:
    msg = EmailMessage()
    msg["From"] = "hello@example.com"
    msg["To"] = to
    msg["Subject"] = f"Welcome, {name}!"
    msg.set_content("Thanks for signing up.")
    with smtplib.SMTP_SSL(SMTP_HOST, 465, timeout=10) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(msg)
