"""Administration: the operator admits and suspends members; member admins manage users; the audit trail."""
