"""The licence ledger: entries, and the summary joined with the access log."""

from __future__ import annotations

from proxy.licensing.ledger import as_json, entry, summary

JAN, FEB = 1_767_225_600.0, 1_769_904_000.0  # 2026-01-01, 2026-02-01 UTC


def grant(now: float, amount: str | None) -> dict[str, object]:
    price = {"currency": "USD", "amount": amount} if amount else None
    return entry(
        now,
        {
            "action": "licence-grant",
            "client_id": "acme-ai",
            "licensee": "Acme AI",
            "jti": "j",
            "usage": ["ai-train"],
            "paths": ["/m/"],
            "price": price,
        },
    )


def test_summary_totals_per_month_and_joins_requests() -> None:
    ledger = [
        grant(JAN, "10.00"),
        grant(JAN + 60, "0.50"),
        grant(FEB, "10.00"),
        grant(FEB, None),
        entry(
            FEB,
            {
                "action": "licence-refusal",
                "client_id": "acme-ai",
                "error": "invalid_scope",
                "licensee": "Acme AI",
            },
        ),
        entry(FEB, {"action": "licence-refusal", "client_id": "nobody", "error": "invalid_client"}),
        entry(FEB, {"action": "licence-revocation", "client_id": "acme-ai", "licensee": "Acme AI"}),
        {"event": {"action": "charge"}},
    ]
    access = [
        {"url": {"path": "/m/a"}, "optout": {"licensee": "Acme AI", "rule": "licence"}},
        {"url": {"path": "/m/a"}, "optout": {"licensee": "Acme AI", "rule": "licence"}},
        {"url": {"path": "/m/b"}, "optout": {"licensee": "Acme AI", "rule": "licence"}},
        {"url": {"path": "/x"}, "optout": {"rule": "default"}},
    ]
    [acme] = summary(ledger, access)
    data = as_json(acme)
    assert data["since"] == "2026-01-01T00:00:00.000Z"
    assert (data["grants"], data["refusals"], data["revoked"]) == (4, 1, True)
    assert data["paid"] == [
        {"month": "2026-01", "currency": "USD", "amount": "10.50"},
        {"month": "2026-02", "currency": "USD", "amount": "10.00"},
    ]
    assert data["requests"] == 3
    assert data["fetched"] == {"/m/a": 2, "/m/b": 1}


def test_entry_shape() -> None:
    record = entry(JAN, {"action": "licence-introspection", "client_id": "c"}, "192.0.2.1")
    assert record["event"]["action"] == "licence-introspection"
    assert record["optout"] == {"licence": {"client_id": "c"}}
    assert record["source"] == {"ip": "192.0.2.1"}
