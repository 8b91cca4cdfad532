-- Rate-limit buckets shared by every node on one database: the GCRA "theoretical arrival
-- time" of each bucket, in seconds since the Unix epoch. Nodes lease tokens from here in small
-- batches (see the http crate's SharedLimiter).
CREATE TABLE rate_buckets (
    bucket  TEXT PRIMARY KEY,
    tat     DOUBLE PRECISION NOT NULL
);
