"""What is recorded of each request: the access-log record, the hash chain and its
verification, the log files, the charges ledger, pseudonyms for people."""
