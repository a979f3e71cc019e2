"""The core's adapters to the disk: the access-log writer thread, the store of served
documents and the key files; and to the state processes share (`shared`, in Redis:
`redisstate`). Everything below this layer is pure."""
