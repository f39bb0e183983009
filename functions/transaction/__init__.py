"""transaction: the publish two-phase commit's coordinator log and the recovery of stalled transactions."""
