"""Network adapters of the core: DNS lookups and HTTP fetches (aiohttp) that the
verification steps need. The rest of `proxy/` does no network I/O and imports
neither mitmproxy nor aiohttp; these modules are the exception, kept apart so
the core's functions can be tested with injected fakes.
"""
