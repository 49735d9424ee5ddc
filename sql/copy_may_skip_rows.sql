-- May COPY into $1 store fewer rows than it reads? When $1 (a table, or a partitioned table and
-- its partitions) has an enabled BEFORE INSERT row trigger, which may return NULL, or a foreign
-- table among its partitions, whose wrapper may skip a row. tgtype bits (pg_trigger.h): ROW 1,
-- BEFORE 2, INSERT 4. Triggers enabled only for replication ('R') count too: whether they fire
-- depends on the session. pg_partition_tree lists nothing for a table that is not partitioned,
-- hence the table itself as well.
WITH tree AS (
    SELECT $1::pg_catalog.oid AS relid
    UNION
    SELECT relid FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass)
)
SELECT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_trigger t JOIN tree ON t.tgrelid = tree.relid
    WHERE NOT t.tgisinternal
      AND t.tgenabled <> 'D'
      AND (t.tgtype::integer & 7) = 7
) OR EXISTS (
    SELECT 1
    FROM pg_catalog.pg_class c JOIN tree ON c.oid = tree.relid
    WHERE c.relkind = 'f'
)
