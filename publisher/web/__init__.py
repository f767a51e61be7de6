"""The public web side: signed subscriber links, sign-up, the archive and provider webhooks."""
