"""Reading a user's published count."""
from counter.models import TOTAL, CounterEntry


def published(user_id: str) -> int:
    """Notifications committed by ``user_id`` (0 before the first)."""
    try:
        return int(CounterEntry.get(user_id, TOTAL).published or 0)
    except CounterEntry.DoesNotExist:
        return 0
