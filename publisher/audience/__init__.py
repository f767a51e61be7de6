"""Who receives: subscribers, lists, suppressions, sign-up (double opt-in) and privacy (export, erasure)."""
