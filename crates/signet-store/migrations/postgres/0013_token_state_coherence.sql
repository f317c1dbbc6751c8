-- Token-state coherence across instances (ARCHITECTURE.md, "Several
-- instances on PostgreSQL"). Every write that can change whether an access
-- token is accepted notifies `signet_token_state` in its own transaction, so
-- every instance's listener hears it at commit; a trigger per table makes it
-- impossible for a write site to forget. A writer then publishes a barrier
-- (a number from `token_state_barriers`, notified after its commit) and
-- waits until every instance holding a live lease has acknowledged it.
-- Leases are written only by signet-store; times are the database's clock
-- in milliseconds, so instances on different machines agree on them.
CREATE SEQUENCE token_state_barriers;

CREATE TABLE instance_leases (
    id TEXT PRIMARY KEY,
    acked BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL
);
CREATE INDEX instance_leases_expiry ON instance_leases (expires_at_ms);

CREATE FUNCTION signet_token_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('signet_token_state', 'c');
    RETURN NULL;
END
$$;

-- Statement-level: one notification per statement (and PostgreSQL folds
-- identical ones within a transaction). Columns a token's acceptance does
-- not depend on (call counts, last use, scopes recorded for display) are
-- left out, so the usage flush does not empty every cache.
CREATE TRIGGER connections_token_state
    AFTER INSERT OR DELETE OR UPDATE OF revoked_at, name, org_id, user_id ON connections
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
CREATE TRIGGER oauth_grants_token_state
    AFTER INSERT OR DELETE OR UPDATE OF revoked_at, connection_id ON oauth_grants
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
CREATE TRIGGER accounts_token_state
    AFTER INSERT OR DELETE OR UPDATE OF status, live_mode, org_id ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
CREATE TRIGGER memberships_token_state
    AFTER INSERT OR DELETE OR UPDATE OF org_id, user_id ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
CREATE TRIGGER oauth_clients_token_state
    AFTER DELETE OR UPDATE OF removed_at ON oauth_clients
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
CREATE TRIGGER users_token_state
    AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION signet_token_state_changed();
