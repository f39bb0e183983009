"""Shared pieces every Notifyx service imports: contract errors, validation, the service client."""
