"""Who may use the console and the API: users and roles, sign-in sessions, API tokens, the audit log."""
