"""A stand-in upstream for trying the example by hand: ``GET /quote`` answers a quote.

Start the app first and this one a few seconds later, and watch the app's
log: its requests are refused, retried, then answered::

    uvicorn examples.fastapi_app.upstream:app --port 9000
"""

from __future__ import annotations

import itertools

from fastapi import FastAPI

QUOTES = itertools.cycle(
    [
        "Errors should never pass silently.",
        "Simple is better than complex.",
        "In the face of ambiguity, refuse the temptation to guess.",
    ]
)

app = FastAPI(title="quotes upstream")


@app.get("/quote")
async def quote() -> dict[str, str]:
    return {"text": next(QUOTES)}
