"""The mitmproxy engine: the embedded master, its hook dispatch, the patches it needs
in front of the public internet, reloading and draining. With `proxy.net`,
`proxy.demo` and `addons`, the only code that may import mitmproxy or aiohttp."""
