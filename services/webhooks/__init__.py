"""Webhooks: signed HTTP deliveries of events to registered endpoints, apart from (never blocking) the projections."""
