"""Header lookups: case-insensitive, repeated fields joined, engine getters passed through."""

from __future__ import annotations

from proxy.requestheaders import getter


def test_mapping_lookup_is_case_insensitive_and_trimmed() -> None:
    get = getter({"Crawler-Max-Price": " USD 0.05 "})
    assert get("crawler-max-price") == "USD 0.05"
    assert get("crawler-exact-price") is None


def test_an_engine_getter_is_used_as_it_is() -> None:
    def engine(name: str) -> str | None:
        return {"signature": "sig1=:AA==:"}.get(name)

    assert getter(engine) is engine
