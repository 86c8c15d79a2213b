"""Who a person is: accounts, passwords, MFA (TOTP, passkeys, recovery codes), sessions, lockout."""
