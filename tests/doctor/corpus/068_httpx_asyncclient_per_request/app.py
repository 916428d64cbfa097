"""PSE104: httpx.AsyncClient created per request."""

import httpx
from fastapi import FastAPI

app = FastAPI()

GITHUB_API = "https://api.github.com"


@app.get("/repos/{owner}/{repo}")
async def repo_info(owner: str, repo: str) -> dict:
    async with httpx.AsyncClient(base_url=GITHUB_API, timeout=10.0) as client:
        resp = await client.get(f"/repos/{owner}/{repo}")
    resp.raise_for_status()
    data = resp.json()
    return {"stars": data["stargazers_count"], "forks": data["forks_count"]}
