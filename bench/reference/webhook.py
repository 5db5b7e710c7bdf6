"""The reference webhook (Flask, run by gunicorn's sync workers): path-secret check, contact
upsert, message insert (deduplicated by provider id), commit, RQ enqueue."""

from __future__ import annotations

import hmac
import os
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, request
from psycopg.types.json import Jsonb
from redis import Redis
from rq import Queue

app = Flask(__name__)
_state: dict[str, Any] = {}


def _connection() -> psycopg.Connection[Any]:
    """One connection per gunicorn worker process, opened on its first request."""
    if "db" not in _state:
        _state["db"] = psycopg.connect(os.environ["REF_DATABASE_URL"])
        _state["queue"] = Queue("ref", connection=Redis.from_url(os.environ["REF_REDIS_URL"]))
    connection: psycopg.Connection[Any] = _state["db"]
    return connection


@app.post("/hooks/whaticket/<tenant>/<connection>/<secret>")
def hook(tenant: str, connection: str, secret: str) -> tuple[Response, int]:
    db = _connection()
    row = db.execute(
        "SELECT id, webhook_secret FROM ref_tenants WHERE slug = %s", (tenant,)
    ).fetchone()
    db.commit()
    if row is None:
        return jsonify(error="unknown tenant"), 404
    tenant_id, expected = row
    if not hmac.compare_digest(secret, expected):
        return jsonify(error="unauthorized"), 401
    payload = request.get_json(silent=True)
    key = payload.get("key") if isinstance(payload, dict) else None
    if not isinstance(key, dict) or not key.get("id") or not key.get("remoteJid"):
        return jsonify(error="key.id and key.remoteJid are required"), 400
    assert isinstance(payload, dict)
    phone = str(key["remoteJid"]).split("@", 1)[0]
    text = str((payload.get("message") or {}).get("conversation") or "")
    with db.transaction():
        contact_id = db.execute(
            "INSERT INTO ref_contacts (tenant_id, phone, name) VALUES (%s, %s, %s)"
            " ON CONFLICT (tenant_id, phone) DO UPDATE SET name = excluded.name RETURNING id",
            (tenant_id, phone, payload.get("pushName")),
        ).fetchone()
        assert contact_id is not None
        inserted = db.execute(
            "INSERT INTO ref_messages (tenant_id, contact_id, provider_msg_id, text, payload)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (tenant_id, contact_id[0], str(key["id"]), text, Jsonb(payload)),
        ).fetchone()
    if inserted is None:
        return jsonify(status="duplicate"), 200
    _state["queue"].enqueue("bench.reference.tasks.answer", inserted[0])
    return jsonify(status="accepted", id=inserted[0]), 200
