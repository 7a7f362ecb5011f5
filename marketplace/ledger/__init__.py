"""The internal double-entry ledger: accounts, transfers, postings, periods and billing runs."""
