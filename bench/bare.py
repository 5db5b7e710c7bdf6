"""The baseline for ingest: a bare FastAPI handler that parses the same JSON and answers 200."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/hooks/whaticket/{tenant}/{connection}/{secret}")
async def hook(tenant: str, connection: str, secret: str, request: Request) -> dict[str, Any]:
    payload = await request.json()
    return {"status": "accepted", "id": payload["key"]["id"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")
