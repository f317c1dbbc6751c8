-- Nothing on SQLite: the token-state cache is kept exact by the WAL-index
-- header every commit rewrites (`changes.rs`). The PostgreSQL migration of
-- the same number adds the leases, barriers and triggers several instances
-- need. Kept so both dialects number their migrations alike.
SELECT 1;
