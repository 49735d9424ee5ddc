-- pgmig demo: what a DBA types in psql. Run by `make demo` against the bundled TDS test server.
\echo '-- install the extension and describe the SQL Server as an ordinary foreign server'
CREATE EXTENSION pgmig;
CREATE SERVER src FOREIGN DATA WRAPPER pgmig
    OPTIONS (host '127.0.0.1', port :'tds_port',
             encrypt 'on', trust_server_certificate 'true');  -- the test server's certificate is self-signed
-- The password is stored where PostgreSQL protects it: pg_user_mappings hides it from others.
CREATE USER MAPPING FOR CURRENT_USER SERVER src
    OPTIONS (user 'loader', password 'demo-Passw0rd');

\echo '-- connect, encrypt, log in, and ask the server who it is'
SELECT pgmig.ping('src') AS server_version;
