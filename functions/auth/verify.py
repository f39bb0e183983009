"""token -> user, for the other services (through core.services.call)."""
from auth import sessions
from core.dispatch import internal_handler


def verify(token: str) -> dict:
    """``{"id", "email"}`` of a live session, or AppError unauthorized."""
    return sessions.resolve(token)


handler = internal_handler({"verify": verify})
