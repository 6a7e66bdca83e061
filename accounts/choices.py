# The roles are defined in core (the role policy reads them and core imports no domain app);
# accounts and its callers keep importing them from here.
from core.roles import ROLE_RANK, Role, role_at_least

__all__ = ["ROLE_RANK", "Role", "role_at_least"]
