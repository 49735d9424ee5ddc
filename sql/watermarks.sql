-- Incremental sync: pull_table(..., mode => 'upsert', watermark => 'col') remembers, per
-- (server, source, target), the highest watermark value it has loaded. The value is written in
-- the pull's own transaction, so it advances exactly when the rows it covers commit.
--
-- Every role uses the table directly, through row-level security on the target's rights:
-- whoever may INSERT and UPDATE the target may move or forget its watermark (they could change
-- the rows anyway); whoever may read the target may see it. No SECURITY DEFINER code.
CREATE TABLE @extschema@.watermarks (
    server           text NOT NULL,
    source           text NOT NULL,
    -- Schema-qualified and quoted as needed (format('%I.%I')).
    target           text NOT NULL,
    -- The table the value was stored for: a target dropped and created again is empty, and
    -- its next run must read everything.
    target_relid     oid NOT NULL,
    watermark_column text NOT NULL,
    -- The column's SQL Server type when stored (datetime, datetime2(3), rowversion, ...).
    source_type      text NOT NULL,
    filter           text,
    -- The source columns the run read, bracket-quoted, in order: a column added to the pull
    -- must be read for every row.
    columns          text,
    -- SQL Server's own text of the value: CONVERT style 126 for dates, 0x hex for rowversion.
    value            text NOT NULL,
    run_id           bigint,
    role             name NOT NULL DEFAULT current_user,
    updated          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (server, source, target)
);
COMMENT ON TABLE @extschema@.watermarks IS
    'Where each incremental pull (watermark =>) starts next: rows with watermark_column > value';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.watermarks', '');

-- The policies below never call to_regclass: for a name in a schema the role has no USAGE on,
-- it raises "permission denied for schema" instead of returning NULL, so a single row for a
-- table in a private schema made every other role's reads of this table, its pulls and its
-- reset_watermark fail. They look tables up in pg_class, which checks no rights, and then ask
-- has_table_privilege, which returns NULL for an oid that no longer exists.

-- The name a row's `target` holds for the table `relid` (NULL: no such table).
CREATE FUNCTION @extschema@.watermark_target_name(relid oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = $1;
$$;

-- The table a row's `target` names now (NULL: none). Rows only ever hold a name made by
-- watermark_target_name (the store and move policies check it), which parse_ident reads back.
CREATE FUNCTION @extschema@.watermark_target_oid(target text)
RETURNS oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid
    FROM pg_catalog.parse_ident($1) AS parsed (name)
    JOIN pg_catalog.pg_namespace n ON n.nspname = parsed.name[1]
    JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = parsed.name[2];
$$;

-- May the current role move the watermark of the table `relid`?
CREATE FUNCTION @extschema@.watermark_may_write(relid oid)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.has_table_privilege($1, 'INSERT')
                    AND pg_catalog.has_table_privilege($1, 'UPDATE'),
                    false);
$$;

-- Rights on a row follow the table its name names now, never target_relid alone: after a dump
-- and restore (the rows are dumped with the extension) or an oid wraparound, that oid may be
-- another role's table. A table dropped and created again under the same name gets its row
-- back (its next run stores over it).
ALTER TABLE @extschema@.watermarks ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON @extschema@.watermarks FOR SELECT
    USING (COALESCE(pg_catalog.has_table_privilege(
               @extschema@.watermark_target_oid(target), 'SELECT'), false));
-- A row names the table it is for, under its current name, and the role that stored it.
CREATE POLICY store ON @extschema@.watermarks FOR INSERT
    WITH CHECK (@extschema@.watermark_may_write(target_relid)
                AND target = @extschema@.watermark_target_name(target_relid)
                AND role = current_user);
CREATE POLICY move ON @extschema@.watermarks FOR UPDATE
    USING (@extschema@.watermark_may_write(@extschema@.watermark_target_oid(target)))
    WITH CHECK (@extschema@.watermark_may_write(target_relid)
                AND target = @extschema@.watermark_target_name(target_relid)
                AND role = current_user);
CREATE POLICY forget ON @extschema@.watermarks FOR DELETE
    USING (@extschema@.watermark_may_write(@extschema@.watermark_target_oid(target)));
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.watermarks TO PUBLIC;

-- What the previous run stored for (server, source, target); no row on a first run.
CREATE FUNCTION @extschema@.watermark_get(server text, source text, target regclass)
RETURNS TABLE (watermark_column text, source_type text, filter text, value text,
               target_relid oid, columns text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.watermark_column, w.source_type, w.filter, w.value, w.target_relid, w.columns
    FROM @extschema@.watermarks w
    WHERE w.server = $1 AND w.source = $2
      AND w.target = @extschema@.watermark_target_name($3);
$$;

-- Stores where the next run starts; pull_table calls it in the pull's own transaction.
CREATE FUNCTION @extschema@.watermark_set(
    server text, source text, target regclass, watermark_column text, source_type text,
    filter text, value text, run_id bigint, columns text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO @extschema@.watermarks AS w
        (server, source, target, target_relid, watermark_column, source_type, filter, value,
         run_id, columns)
    VALUES ($1, $2, @extschema@.watermark_target_name($3), $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (server, source, target) DO UPDATE
    SET target_relid = EXCLUDED.target_relid, watermark_column = EXCLUDED.watermark_column,
        source_type = EXCLUDED.source_type, filter = EXCLUDED.filter, value = EXCLUDED.value,
        run_id = EXCLUDED.run_id, columns = EXCLUDED.columns, role = current_user,
        updated = pg_catalog.now();
$$;

-- Forgets the watermarks of a target (of one server and source, when given): its next
-- incremental pull reads the whole source table. Returns how many it forgot.
CREATE FUNCTION @extschema@.reset_watermark(target regclass, server text DEFAULT NULL,
                                            source text DEFAULT NULL)
RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM @extschema@.watermarks w
        WHERE w.target = @extschema@.watermark_target_name($1)
          AND ($2 IS NULL OR w.server = $2) AND ($3 IS NULL OR w.source = $3)
        RETURNING 1)
    SELECT pg_catalog.count(*)::integer FROM gone;
$$;
COMMENT ON FUNCTION @extschema@.reset_watermark(regclass, text, text) IS
    'Forget the incremental-sync watermarks of a target: its next pull with watermark => reads everything';
