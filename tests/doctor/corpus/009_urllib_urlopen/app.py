"""PSE101: urllib.request.urlopen in an async route."""

import json
import urllib.parse
import urllib.request

from fastapi import FastAPI

app = FastAPI()

WEATHER_URL = "https://api.weather.example.com/v1/current"


@app.get("/weather/{city}")
async def weather(city: str) -> dict:
    query = urllib.parse.urlencode({"q": city, "units": "metric"})
    req = urllib.request.Request(f"{WEATHER_URL}?{query}", headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        payload = json.load(resp)
    return {"city": city, "temp": payload["main"]["temp"]}
