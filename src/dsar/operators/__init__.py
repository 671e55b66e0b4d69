"""The privacy team's console accounts: operators, roles, web sessions and the hash-chained audit log."""
