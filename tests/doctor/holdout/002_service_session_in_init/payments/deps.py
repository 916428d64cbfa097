import os

from payments.client import PaymentsClient


def get_payments_client() -> PaymentsClient:
    return PaymentsClient(os.environ["PSP_URL"], os.environ["PSP_KEY"])
