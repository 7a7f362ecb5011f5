"""Administration: the operator admits and suspends members; member admins manage users; the audit trail;
the operator's service categories. Importing the package registers every page on `bp`."""

from marketplace.web.admin import categories, views
from marketplace.web.admin.blueprint import bp

__all__ = ["bp", "categories", "views"]
