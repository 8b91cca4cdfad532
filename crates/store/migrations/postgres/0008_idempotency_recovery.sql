-- Claims of writes that record their answer in their own transaction: such a claim still
-- running long after it was taken belongs to a request that died before its write committed,
-- so it may be taken over safely.
ALTER TABLE idempotency_keys ADD COLUMN recoverable BIGINT NOT NULL DEFAULT 0;
