-- Registered OAuth clients that have gone unused for a while are purged; the purge looks up
-- the grants of each client.
CREATE INDEX oauth_grants_client ON oauth_grants(client_id);
