"""The reference worker's job: one message, one Gemini call, one Whaticket send, one reply row."""

from __future__ import annotations

import os

import httpx
import psycopg

MODEL = "gemini-2.5-flash"


def answer(message_id: int) -> None:
    with psycopg.connect(os.environ["REF_DATABASE_URL"]) as db:
        row = db.execute(
            "SELECT m.text, c.phone FROM ref_messages m JOIN ref_contacts c ON c.id = m.contact_id"
            " WHERE m.id = %s",
            (message_id,),
        ).fetchone()
        if row is None:
            return
        text, phone = row
        with httpx.Client(timeout=30) as http:
            generated = http.post(
                f"{os.environ['REF_GEMINI_BASE_URL']}/v1beta/models/{MODEL}:generateContent",
                headers={"x-goog-api-key": os.environ["REF_GEMINI_KEY"]},
                json={"contents": [{"role": "user", "parts": [{"text": text}]}]},
            )
            generated.raise_for_status()
            reply = generated.json()["candidates"][0]["content"]["parts"][0]["text"]
            sent = http.post(
                f"{os.environ['REF_WHATICKET_URL']}/api/messages/send",
                headers={"Authorization": f"Bearer {os.environ['REF_WHATICKET_TOKEN']}"},
                json={"number": phone, "body": reply},
            )
            sent.raise_for_status()
        db.execute(
            "INSERT INTO ref_replies (message_id, text) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (message_id, reply),
        )
