"""The core's adapters to the disk: the access-log writer thread, the store of served
documents and the key files. Everything below this layer is pure."""
