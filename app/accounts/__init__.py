"""The accounts service: users and their passwords, API and display tokens, and who a request is.

``from app import accounts`` gives the operations; ``app.accounts.admin`` the audited, role-checked
administration that the admin page and the CLI call.
"""

from app.accounts.tokens import (
                                 TOKEN_PREFIX,
                                 create_token,
                                 revoke_token,
                                 token_principal,
                                 token_session_principal,
)
from app.accounts.users import (
                                 PASSWORD_METHOD,
                                 add_user,
                                 authenticate,
                                 departments_of,
                                 end_sessions,
                                 load_session_user,
                                 set_departments,
                                 set_disabled,
                                 set_domains,
                                 set_language,
                                 set_password,
)
from app.accounts.validation import (
                                 MAX_PASSWORD_LENGTH,
                                 MIN_PASSWORD_LENGTH,
                                 NAME_MAX_LENGTH,
                                 NAME_RE,
                                 AccountError,
                                 generate_password,
                                 validate_departments,
                                 validate_domains,
                                 validate_language,
                                 validate_name,
                                 validate_password,
                                 validate_role,
)
from app.model.principal import Principal

__all__ = ["AccountError", "NAME_MAX_LENGTH", "MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "NAME_RE",
           "PASSWORD_METHOD", "Principal", "TOKEN_PREFIX", "add_user", "authenticate",
           "create_token", "departments_of", "end_sessions", "generate_password",
           "load_session_user", "revoke_token", "set_departments", "set_disabled", "set_domains",
           "set_language", "set_password", "token_principal", "token_session_principal",
           "validate_departments", "validate_domains", "validate_language", "validate_name",
           "validate_password", "validate_role"]
