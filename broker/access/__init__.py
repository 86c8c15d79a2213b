"""May this person open this host now, and how: grants, weekly windows, time zones, vendor
approvals, tickets, the clinic's remote policy.
"""
