"""Publisher side: content, subscribers, campaigns, enqueueing and the CLI."""
