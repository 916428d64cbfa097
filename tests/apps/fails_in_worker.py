"""An app that imports in the supervisor but not in a spawned worker process (as when a
worker's environment differs): `poise run` must stop, not restart workers forever."""

import multiprocessing

from fastapi import FastAPI

if multiprocessing.parent_process() is not None:
    raise RuntimeError("this module cannot be imported in a worker")

app = FastAPI()
