"""status: the system's health as one endpoint, from each internal service's own health op."""
