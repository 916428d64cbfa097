import smtplib
import subprocess
from email.message import EmailMessage

from celery import Celery

celery_app = Celery("shop", broker="redis://redis:6379/1")


@celery_app.task(bind=True, max_retries=3)
def generate_invoice(self, order_id: int) -> str:
    pdf = f"/srv/invoices/{order_id}.pdf"
    subprocess.run(["render-invoice", str(order_id), pdf], check=True)
    msg = EmailMessage()
    msg["Subject"] = f"Invoice for order {order_id}"
    msg.set_content("Your invoice is attached.")
    with smtplib.SMTP("smtp.example.com", 587, timeout=10) as smtp:
        smtp.send_message(msg)
    return pdf
