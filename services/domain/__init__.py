"""The crisis domain's rules as plain functions: no I/O, used by the read models and the views."""
