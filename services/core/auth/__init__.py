"""Who may use the panel and the admin API: users, roles, passwords, tokens and sessions."""
