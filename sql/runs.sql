-- pgmig.runs: one row per pull. Rows are written by a short-lived background worker in a
-- transaction of its own, so the record of a failed or rolled-back pull survives the rollback
-- of its data; `transaction` tells whether the pull's own transaction committed.
CREATE SEQUENCE @extschema@.run_id_seq;
-- Every role that may pull takes run ids.
GRANT USAGE ON SEQUENCE @extschema@.run_id_seq TO PUBLIC;

CREATE TABLE @extschema@.run_log (
    run_id         bigint PRIMARY KEY,
    role           name NOT NULL,
    server         text,
    source         text NOT NULL,
    target         text,
    mode           text NOT NULL,
    started        timestamptz NOT NULL,
    finished       timestamptz NOT NULL,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_written   bigint NOT NULL DEFAULT 0,
    rows_unchanged bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    status         text NOT NULL CHECK (status IN ('ok', 'failed', 'cancelled')),
    sqlstate       text,
    error          text,
    -- The pull's own transaction, for pg_xact_status().
    xid            xid8
);
COMMENT ON TABLE @extschema@.run_log IS
    'pgmig runs as recorded; read them through the view pgmig.runs';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.run_log', '');

-- A role sees its own runs and those of roles it is a member of; superusers see all.
CREATE VIEW @extschema@.runs WITH (security_barrier) AS
SELECT l.run_id, l.role, l.server, l.source, l.target, l.mode, l.started, l.finished,
       l.rows_read, l.rows_written, l.rows_unchanged, l.bytes, l.status, l.sqlstate, l.error,
       CASE WHEN l.xid IS NOT NULL THEN pg_catalog.pg_xact_status(l.xid) END AS transaction
FROM @extschema@.run_log l
WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
              WHERE r.rolname = l.role AND pg_catalog.pg_has_role(r.oid, 'MEMBER'));
COMMENT ON VIEW @extschema@.runs IS
    'One row per pgmig pull: status ok/failed/cancelled; transaction: whether the pull''s own transaction committed';
GRANT SELECT ON @extschema@.runs TO PUBLIC;
