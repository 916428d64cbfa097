import time

import requests
from fastapi import BackgroundTasks

SUBSCRIBERS = ["https://partner-a.example.com/hooks", "https://partner-b.example.com/hooks"]


def deliver_webhook(url: str, payload: dict) -> None:
    for attempt in range(5):
        try:
            resp = requests.post(url, json=payload, timeout=5)
            if resp.status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(2**attempt)


def schedule_webhooks(background_tasks: BackgroundTasks, payload: dict) -> int:
    for url in SUBSCRIBERS:
        background_tasks.add_task(deliver_webhook, url, payload)
    return len(SUBSCRIBERS)
