-- The analysts' commonest page (issue 13): a country's events of one type in a time window, newest or oldest
-- first. With the country's index alone PostgreSQL walked the window and dropped the other types' rows; this one
-- walks straight to the page's rows in their order.
CREATE INDEX event_log_country_type ON event_log (country, type, occurred_at, stream_seq);
