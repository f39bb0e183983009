"""mail: queue email, send it with bounded concurrency through SES, retry, dead-letter."""
