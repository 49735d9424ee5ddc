-- The foreign-data wrapper that holds pgmig's connections as ordinary SQL/MED objects:
-- servers carry host/port/database/TLS options, user mappings carry the SQL Server login
-- (PostgreSQL hides user-mapping options from roles other than their owner).
-- It has no handler: pgmig's functions read its servers, no foreign table scans through it.
CREATE FOREIGN DATA WRAPPER pgmig VALIDATOR @extschema@.pgmig_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER pgmig IS
    'pgmig connections to Microsoft SQL Server: CREATE SERVER s FOREIGN DATA WRAPPER pgmig OPTIONS (host ''...'')';

-- Any role may call pgmig's functions: what a role can reach is decided by USAGE on a server and
-- a user mapping, exactly as with postgres_fdw, never by access to this schema.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
