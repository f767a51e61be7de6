"""The delivery ledger: campaigns, batches, one record per recipient, and the state machine that moves them."""
