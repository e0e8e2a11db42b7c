"""The recorded time a read answers as of, as SQL: every view ignores rows recorded after it."""

# %(as_of)s is the query's `as_of`; NULL (no as_of) is now.
AS_OF = "COALESCE(%(as_of)s::timestamptz, 'infinity')"
