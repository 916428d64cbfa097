import urllib.request as ureq

from . import http_utils

BASE = "https://api.weather.example.com"


def current(city: str) -> dict:
    return http_utils.get_json(f"{BASE}/current?city={city}")


def radar_png(city: str) -> bytes:
    return ureq.urlopen(f"{BASE}/radar/{city}.png").read()
