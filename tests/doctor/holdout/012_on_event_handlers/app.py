import pickle
import time

import requests
from fastapi import FastAPI, Request
from pydantic import BaseModel

MODEL_PATH = "/models/churn.pkl"
METRICS_URL = "https://metrics.internal/flush"

app = FastAPI()


@app.on_event("startup")
def load_model() -> None:
    with open(MODEL_PATH, "rb") as f:
        app.state.model = pickle.loads(f.read())


@app.on_event("shutdown")
async def flush_metrics() -> None:
    requests.post(METRICS_URL, data=b"bye")


async def wait_for_dependencies() -> None:
    for _ in range(10):
        try:
            requests.get("http://feature-store:8080/ready", timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(1)


app.add_event_handler("startup", wait_for_dependencies)


class Features(BaseModel):
    tenure: int
    spend: float


@app.post("/predict")
async def predict(features: Features, request: Request) -> dict[str, float]:
    score = request.app.state.model.predict_proba([[features.tenure, features.spend]])[0][1]
    return {"churn": float(score)}
