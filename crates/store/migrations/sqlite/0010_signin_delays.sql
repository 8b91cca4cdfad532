-- Sign-in throttling reserves an attempt before the password is checked. Besides the fixed
-- window count, a bucket can hold a growing delay: once an e-mail address has collected a few
-- failures from anywhere, each further attempt must wait until not_before, and every failure
-- doubles the wait (up to a cap) instead of locking the user out.
ALTER TABLE oauth_signin_failures ADD COLUMN delay_secs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oauth_signin_failures ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;

-- Whether anyone has consented to a client decides if /authorize may send errors to it, and
-- registrations whose grants have all gone unused for a while are purged: both look up a
-- client's grants.
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);
