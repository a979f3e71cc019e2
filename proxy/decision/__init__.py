"""What to do with a request: the first matching rule, the licence it presents, and
the answers the proxy gives itself (block page, licence challenge, price, throttle)."""
