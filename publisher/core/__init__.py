"""The ground floor: settings, errors, clock, Redis, signed links, addresses and the outgoing message. Imports no other project code."""
