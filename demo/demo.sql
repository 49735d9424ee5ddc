-- pgmig demo: what a DBA types in psql. Run by `make demo` against the bundled TDS test server,
-- which serves a generated StackOverflow-like database (dbo.Posts, dbo.Votes).
\echo '-- install the extension and describe the SQL Server as an ordinary foreign server'
CREATE EXTENSION pgmig;
CREATE SERVER src FOREIGN DATA WRAPPER pgmig
    OPTIONS (host '127.0.0.1', port :'tds_port', database 'StackOverflow2010',
             encrypt 'on', trust_server_certificate 'true');  -- the test server's certificate is self-signed
-- The password is stored where PostgreSQL protects it: pg_user_mappings hides it from others.
CREATE USER MAPPING FOR CURRENT_USER SERVER src
    OPTIONS (user 'loader', password 'demo-Passw0rd');

\echo '-- connect, encrypt, log in, and ask the server who it is'
SELECT pgmig.ping('src') AS server_version;

\echo '-- what a pull of dbo.Posts would read and create (column names in snake_case)'
SET pgmig.identifier_case = 'snake';
SELECT column_name, sql_server_type, nullable, key_position AS key, pg_type
FROM pgmig.describe('dbo.Posts');
SELECT pgmig.create_table_sql('dbo.Posts', target => 'posts');

\echo '-- pull it: progress every 2 seconds, one summary row'
SET pgmig.progress_interval = '2s';
\x on
SELECT * FROM pgmig.pull_table('dbo.Posts');
\x off
SELECT count(*) AS rows, pg_size_pretty(pg_total_relation_size('posts')) AS size FROM posts;

\echo '-- a re-sync that finds nothing changed writes nothing'
SELECT run_id, mode, rows_read, rows_written, rows_unchanged, round(seconds::numeric, 2) AS seconds
FROM pgmig.pull_table('dbo.Posts', mode => 'upsert');

\echo '-- every run is recorded, failed ones too (this one fails on purpose)'
\set ON_ERROR_STOP off
SELECT * FROM pgmig.pull_table('dbo.NoSuchTable');
\set ON_ERROR_STOP on
SELECT run_id, source, target, mode, status, rows_read, sqlstate, error FROM pgmig.runs ORDER BY run_id;
