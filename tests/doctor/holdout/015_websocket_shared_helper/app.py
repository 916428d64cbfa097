import asyncio

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from quotes import fetch_order_book, latest_quote

app = FastAPI()


@app.get("/quotes/{symbol}")
async def get_quote(symbol: str) -> dict:
    return latest_quote(symbol)


@app.websocket("/ws/book/{symbol}")
async def stream_book(websocket: WebSocket, symbol: str) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_json(fetch_order_book(symbol))
            await asyncio.sleep(1)
    except WebSocketDisconnect:
        pass
