-- Does $1 (a table, or a partitioned table and its partitions) have an enabled BEFORE INSERT
-- row trigger? tgtype bits (pg_trigger.h): ROW 1, BEFORE 2, INSERT 4. Triggers enabled only
-- for replication ('R') count too: whether they fire depends on the session. pg_partition_tree
-- lists nothing for a table that is not partitioned, hence the table itself as well.
SELECT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_trigger t
    WHERE (t.tgrelid = $1
           OR t.tgrelid IN (SELECT relid
                            FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass)))
      AND NOT t.tgisinternal
      AND t.tgenabled <> 'D'
      AND (t.tgtype::integer & 7) = 7
)
