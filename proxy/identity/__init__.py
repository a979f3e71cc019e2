"""Who is asking: the client address, the agent its User-Agent claims, and whether the
operator's published IP ranges, reverse DNS or a request signature confirm it."""
