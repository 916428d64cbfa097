"""PSE103: Pillow resize/encode on the event loop."""

import io

from fastapi import FastAPI, UploadFile
from fastapi.responses import Response
from PIL import Image

app = FastAPI()


@app.post("/thumbnails")
async def make_thumbnail(file: UploadFile) -> Response:
    raw = await file.read()
    image = Image.open(io.BytesIO(raw))
    thumb = image.resize((256, 256))
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=85)
    return Response(out.getvalue(), media_type="image/jpeg")
