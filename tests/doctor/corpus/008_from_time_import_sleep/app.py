"""PSE101: time.sleep imported by name, in a polling loop inside an async route."""

from time import sleep

from fastapi import FastAPI, HTTPException

app = FastAPI()

JOBS: dict[str, str] = {}


@app.get("/jobs/{job_id}/wait")
async def wait_for_job(job_id: str) -> dict:
    for _ in range(10):
        if JOBS.get(job_id) == "done":
            return {"job_id": job_id, "status": "done"}
        sleep(0.5)
    raise HTTPException(status_code=504, detail="job still running")
