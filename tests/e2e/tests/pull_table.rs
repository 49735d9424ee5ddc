//! `pgmig.pull_table` and `pgmig.describe` against the TDS test server, as a user calls them:
//! every type with edge values compared value by value, every mode and its reruns, the errors
//! that must come before any row moves, faults mid-stream, cancel, and the run log.

use pgmig_e2e::{
    add_server, all_text, count, expect_error, rows_differing, start_tds, texts, upsert, TestDb,
    Upserted,
};
use pgmig_tds_server::faults::Fault;
use postgres::error::SqlState;

/// A source database with one table of every type: a row of minimums, one of maximums and
/// other edge values, and one of NULLs.
const TYPES_SEED: &str = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.AllTypes (
    Id int NOT NULL PRIMARY KEY,
    C_bit bit NULL,
    C_tinyint tinyint NULL,
    C_smallint smallint NULL,
    C_int int NULL,
    C_bigint bigint NULL,
    C_dec38_38 decimal(38,38) NULL,
    C_dec38_0 decimal(38,0) NULL,
    C_num18_4 numeric(18,4) NULL,
    C_money money NULL,
    C_smallmoney smallmoney NULL,
    C_real real NULL,
    C_float float NULL,
    C_date date NULL,
    C_time7 time(7) NULL,
    C_time0 time(0) NULL,
    C_smalldatetime smalldatetime NULL,
    C_datetime datetime NULL,
    C_datetime2_7 datetime2(7) NULL,
    C_datetime2_3 datetime2(3) NULL,
    C_dto datetimeoffset(7) NULL,
    C_char char(5) NULL,
    C_varchar varchar(20) NULL,
    C_varchar_max varchar(max) NULL,
    C_nchar nchar(3) NULL,
    C_nvarchar nvarchar(20) NULL,
    C_nvarchar_max nvarchar(max) NULL,
    C_text text NULL,
    C_ntext ntext NULL,
    C_binary binary(4) NULL,
    C_varbinary varbinary(10) NULL,
    C_varbinary_max varbinary(max) NULL,
    C_image image NULL,
    C_guid uniqueidentifier NULL,
    C_xml xml NULL,
    C_rowversion rowversion
)
GO
INSERT INTO dbo.AllTypes VALUES (1, 0, 0, -32768, -2147483648, -9223372036854775808,
    -0.99999999999999999999999999999999999999, -99999999999999999999999999999999999999,
    -99999999999999.9999, -922337203685477.5808, -214748.3648, -3.40E+38, -1.79E+308,
    '0001-01-01', '00:00:00', '00:00:00', '1900-01-01 00:00', '1753-01-01 00:00:00.000',
    '0001-01-01 00:00:00', '0001-01-01 00:00:00', '0001-01-02 00:00:00 +14:00',
    'ab', '', '', N'日本', N'', N'', 'legacy', N'Ωmega', 0x00000000, 0x, 0x, 0x00,
    '00000000-0000-0000-0000-000000000000', '<a/>', DEFAULT)
INSERT INTO dbo.AllTypes VALUES (2, 1, 255, 32767, 2147483647, 9223372036854775807,
    0.12345678901234567890123456789012345678, 99999999999999999999999999999999999999,
    99999999999999.9999, 922337203685477.5807, 214748.3647, 3.40E+38, 1.79E+308,
    '9999-12-31', '23:59:59.9999999', '23:59:59', '2079-06-06 23:59', '9999-12-31 23:59:59.997',
    '9999-12-31 23:59:59.9999994', '2024-02-29 12:34:56.789', '9999-12-31 09:59:59.9999990 -14:00',
    'abcde', 'héllo wörld', REPLICATE(CAST('x' AS varchar(max)), 9000), N'日本語', N'😀 non-BMP',
    REPLICATE(CAST(N'é' AS nvarchar(max)), 5000),
    'text', N'ntext', 0x01020304, 0xDEADBEEF, 0x0102, 0xFF,
    '6F9619FF-8B86-D011-B42D-00C04FC964FF', '<r><c k=\"v\">1 &amp; 2</c></r>', DEFAULT)
INSERT INTO dbo.AllTypes (Id) VALUES (3)
INSERT INTO dbo.AllTypes (Id, C_datetime, C_time7, C_datetime2_7) VALUES
    (4, '2024-01-01 12:00:00.003', '12:34:56.1234567', '2024-01-01 00:00:00.0000005')
GO
";

fn setup(test: &str, seed: &str) -> (TestDb, pgmig_tds_server::RunningServer) {
    let tds = start_tds(seed, None);
    let mut db = TestDb::new(test);
    add_server(&mut db.client, "src", &tds, "shop");
    db.client
        .batch_execute("SET TIME ZONE 'UTC'; SET pgmig.progress_interval = 0;")
        .unwrap();
    (db, tds)
}

/// Column `column` of table `table` ordered by id, as PostgreSQL prints it.
fn column_texts(db: &mut TestDb, table: &str, column: &str) -> Vec<String> {
    texts(
        &mut db.client,
        &format!("SELECT {column}::text FROM {table} ORDER BY id"),
    )
}

#[test]
fn every_type_arrives_exact() {
    let (mut db, _tds) = setup("pull_types", TYPES_SEED);
    let row = db
        .client
        .query_one(
            "SELECT run_id, source, target, mode, rows_read, rows_written, rows_unchanged, bytes
             FROM pgmig.pull_table('dbo.AllTypes')",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(1), "dbo.AllTypes");
    assert_eq!(row.get::<_, String>(2), "public.alltypes");
    assert_eq!(row.get::<_, String>(3), "append");
    assert_eq!(row.get::<_, i64>(4), 4);
    assert_eq!(row.get::<_, i64>(5), 4);
    assert_eq!(row.get::<_, i64>(6), 0);
    assert!(row.get::<_, i64>(7) > 9000);

    // The created table: mapped types, NOT NULL and the primary key.
    let types = texts(
        &mut db.client,
        "SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END
         FROM pg_attribute WHERE attrelid = 'alltypes'::regclass AND attnum > 0 ORDER BY attnum",
    );
    let expected_types = [
        "id integer not null",
        "c_bit boolean",
        "c_tinyint smallint",
        "c_smallint smallint",
        "c_int integer",
        "c_bigint bigint",
        "c_dec38_38 numeric(38,38)",
        "c_dec38_0 numeric(38,0)",
        "c_num18_4 numeric(18,4)",
        "c_money numeric(19,4)",
        "c_smallmoney numeric(10,4)",
        "c_real real",
        "c_float double precision",
        "c_date date",
        "c_time7 time(6) without time zone",
        "c_time0 time(0) without time zone",
        "c_smalldatetime timestamp(0) without time zone",
        "c_datetime timestamp(3) without time zone",
        "c_datetime2_7 timestamp(6) without time zone",
        "c_datetime2_3 timestamp(3) without time zone",
        "c_dto timestamp(6) with time zone",
        "c_char character(5)",
        "c_varchar character varying(20)",
        "c_varchar_max text",
        "c_nchar character(3)",
        "c_nvarchar character varying(20)",
        "c_nvarchar_max text",
        "c_text text",
        "c_ntext text",
        "c_binary bytea",
        "c_varbinary bytea",
        "c_varbinary_max bytea",
        "c_image bytea",
        "c_guid uuid",
        "c_xml xml",
        "c_rowversion bytea not null",
    ];
    assert_eq!(types, expected_types);
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'alltypes'::regclass"
        ),
        ["PRIMARY KEY (id)"]
    );

    let t = "alltypes";
    let mut check = |column: &str, expected: [&str; 4]| {
        assert_eq!(
            column_texts(&mut db, t, column),
            expected,
            "column {column}"
        );
    };
    check("c_bit", ["false", "true", "NULL", "NULL"]);
    check("c_tinyint", ["0", "255", "NULL", "NULL"]);
    check("c_smallint", ["-32768", "32767", "NULL", "NULL"]);
    check("c_int", ["-2147483648", "2147483647", "NULL", "NULL"]);
    check(
        "c_bigint",
        [
            "-9223372036854775808",
            "9223372036854775807",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_dec38_38",
        [
            "-0.99999999999999999999999999999999999999",
            "0.12345678901234567890123456789012345678",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_dec38_0",
        [
            "-99999999999999999999999999999999999999",
            "99999999999999999999999999999999999999",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_num18_4",
        [
            "-99999999999999.9999",
            "99999999999999.9999",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_money",
        [
            "-922337203685477.5808",
            "922337203685477.5807",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_smallmoney",
        ["-214748.3648", "214748.3647", "NULL", "NULL"],
    );
    check("c_real", ["-3.4e+38", "3.4e+38", "NULL", "NULL"]);
    check("c_float", ["-1.79e+308", "1.79e+308", "NULL", "NULL"]);
    check("c_date", ["0001-01-01", "9999-12-31", "NULL", "NULL"]);
    // time(7) keeps 100 ns, PostgreSQL microseconds: rounded half up; the last tick of the day
    // becomes 24:00:00, a valid PostgreSQL time.
    check(
        "c_time7",
        ["00:00:00", "24:00:00", "NULL", "12:34:56.123457"],
    );
    check("c_time0", ["00:00:00", "23:59:59", "NULL", "NULL"]);
    check(
        "c_smalldatetime",
        ["1900-01-01 00:00:00", "2079-06-06 23:59:00", "NULL", "NULL"],
    );
    // datetime's 1/300 s ticks become the millisecond SQL Server shows.
    check(
        "c_datetime",
        [
            "1753-01-01 00:00:00",
            "9999-12-31 23:59:59.997",
            "NULL",
            "2024-01-01 12:00:00.003",
        ],
    );
    check(
        "c_datetime2_7",
        [
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999",
            "NULL",
            // A tie (.0000005) goes to even, as PostgreSQL's own text input rounds it.
            "2024-01-01 00:00:00",
        ],
    );
    check(
        "c_datetime2_3",
        [
            "0001-01-01 00:00:00",
            "2024-02-29 12:34:56.789",
            "NULL",
            "NULL",
        ],
    );
    // The instant is kept: +14:00 local midnight is 10:00 UTC the day before.
    check(
        "c_dto",
        [
            "0001-01-01 10:00:00+00",
            "9999-12-31 23:59:59.999999+00",
            "NULL",
            "NULL",
        ],
    );
    // char(n) keeps its padding; ::text drops trailing spaces, as PostgreSQL does for bpchar.
    check("c_char", ["ab", "abcde", "NULL", "NULL"]);
    check("c_varchar", ["", "héllo wörld", "NULL", "NULL"]);
    check("c_nchar", ["日本", "日本語", "NULL", "NULL"]);
    check("c_nvarchar", ["", "😀 non-BMP", "NULL", "NULL"]);
    check("c_text", ["legacy", "text", "NULL", "NULL"]);
    check("c_ntext", ["Ωmega", "ntext", "NULL", "NULL"]);
    check("c_binary", ["\\x00000000", "\\x01020304", "NULL", "NULL"]);
    check("c_varbinary", ["\\x", "\\xdeadbeef", "NULL", "NULL"]);
    check("c_varbinary_max", ["\\x", "\\x0102", "NULL", "NULL"]);
    check("c_image", ["\\x00", "\\xff", "NULL", "NULL"]);
    check(
        "c_guid",
        [
            "00000000-0000-0000-0000-000000000000",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
            "NULL",
            "NULL",
        ],
    );
    check(
        "c_xml",
        ["<a/>", "<r><c k=\"v\">1 &amp; 2</c></r>", "NULL", "NULL"],
    );
    // rowversion: the server's 8-byte counter, one new value per inserted row, increasing.
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT (count(DISTINCT c_rowversion) = 4
                     AND bool_and(length(c_rowversion) = 8)
                     AND array_agg(c_rowversion ORDER BY id) = array_agg(c_rowversion ORDER BY c_rowversion))::text
             FROM alltypes"
        ),
        ["true"]
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT length(c_varchar_max)::text || '/' || length(c_nvarchar_max)::text
             FROM alltypes WHERE id = 2"
        ),
        ["9000/5000"]
    );
}

const POSTS_SEED: &str = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Posts (
    Id int IDENTITY(1,1) NOT NULL PRIMARY KEY,
    Title nvarchar(100) NOT NULL,
    Score int NULL,
    Created datetime2(3) NOT NULL
)
GO
SET IDENTITY_INSERT dbo.Posts ON
INSERT INTO dbo.Posts (Id, Title, Score, Created) VALUES
    (1, N'first', 10, '2024-01-01 10:00:00.123'),
    (2, N'second', NULL, '2024-01-02 10:00:00'),
    (3, N'third', 30, '2024-01-03 10:00:00'),
    (5, N'fifth', 50, '2024-01-05 10:00:00'),
    (8, N'eighth', -1, '2024-01-08 10:00:00')
SET IDENTITY_INSERT dbo.Posts OFF
GO
CREATE TABLE dbo.NoKey (A int NULL, B nvarchar(10) NULL)
GO
INSERT INTO dbo.NoKey VALUES (1, N'x'), (2, N'y')
GO
CREATE TABLE dbo.Nul (Id int NOT NULL PRIMARY KEY, T nvarchar(10) NULL)
GO
INSERT INTO dbo.Nul VALUES (1, N'ok'), (7, N'a' + NCHAR(0) + N'b')
GO
";

fn pull(db: &mut TestDb, args: &str) -> (i64, i64, i64) {
    let row = db
        .client
        .query_one(
            &format!(
                "SELECT rows_read, rows_written, rows_unchanged FROM pgmig.pull_table({args})"
            ),
            &[],
        )
        .unwrap_or_else(|e| panic!("pull_table({args}): {e:?}"));
    (row.get(0), row.get(1), row.get(2))
}

#[test]
fn append_creates_then_a_second_append_fails_whole() {
    let (mut db, _tds) = setup("pull_append", POSTS_SEED);
    assert_eq!(pull(&mut db, "'dbo.Posts', batch_rows => 2"), (5, 5, 0));
    assert_eq!(
        texts(&mut db.client, "SELECT title FROM posts ORDER BY id"),
        ["first", "second", "third", "fifth", "eighth"]
    );
    // Identity: GENERATED BY DEFAULT, sequence past the largest id loaded.
    db.client
        .batch_execute("INSERT INTO posts (title, created) VALUES ('new', now())")
        .unwrap();
    assert_eq!(
        count(&mut db.client, "SELECT max(id)::bigint FROM posts"),
        9
    );
    db.client
        .batch_execute("DELETE FROM posts WHERE id = 9")
        .unwrap();
    // Again: the primary key refuses the first batch; nothing of the run stays.
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', batch_rows => 2)",
        &SqlState::UNIQUE_VIOLATION,
    );
    assert!(
        all_text(&error).contains("posts_pkey"),
        "{}",
        all_text(&error)
    );
    assert_eq!(count(&mut db.client, "SELECT count(*) FROM posts"), 5);
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT concat_ws(' ', status, rows_read, coalesce(sqlstate, '-'), transaction)
             FROM pgmig.runs ORDER BY run_id",
        ),
        ["ok 5 - committed", "failed 0 23505 aborted"]
    );
}

#[test]
fn truncate_and_named_target_with_columns_and_filter() {
    let (mut db, _tds) = setup("pull_truncate", POSTS_SEED);
    db.client
        .batch_execute(
            "CREATE SCHEMA stage;
             CREATE TABLE stage.top_posts (id bigint PRIMARY KEY, title text, extra int DEFAULT 7);
             INSERT INTO stage.top_posts VALUES (100, 'old', 1);",
        )
        .unwrap();
    let args = "'dbo.Posts', target => 'stage.top_posts', mode => 'truncate', \
                columns => ARRAY['Id', 'title'], filter => 'Score >= 10'";
    assert_eq!(pull(&mut db, args), (3, 3, 0));
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT id || ':' || title || ':' || extra FROM stage.top_posts ORDER BY id"
        ),
        ["1:first:7", "3:third:7", "5:fifth:7"]
    );
    // A BEFORE INSERT trigger that skips rows: COPY stores fewer rows than it read, which is
    // not a stream cut short. rows_read counts what SQL Server sent, rows_written what stayed.
    db.client
        .batch_execute(
            "CREATE FUNCTION stage.skip_third() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RETURN CASE WHEN NEW.title = 'third' THEN NULL ELSE NEW END; END $$;
             CREATE TRIGGER skip_third BEFORE INSERT ON stage.top_posts
                 FOR EACH ROW EXECUTE FUNCTION stage.skip_third();",
        )
        .unwrap();
    assert_eq!(
        pull(&mut db, &format!("{args}, batch_rows => 2")),
        (3, 2, 0)
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT title FROM stage.top_posts ORDER BY id"
        ),
        ["first", "fifth"]
    );
    // The same with the trigger on a partition of a partitioned target.
    db.client
        .batch_execute(
            "CREATE TABLE stage.parted (id bigint, title text, extra int) PARTITION BY RANGE (id);
             CREATE TABLE stage.parted_low PARTITION OF stage.parted FOR VALUES FROM (0) TO (4);
             CREATE TABLE stage.parted_high PARTITION OF stage.parted FOR VALUES FROM (4) TO (100);
             CREATE TRIGGER skip_third BEFORE INSERT ON stage.parted_low
                 FOR EACH ROW EXECUTE FUNCTION stage.skip_third();",
        )
        .unwrap();
    let parted = args.replace("stage.top_posts", "stage.parted");
    assert_eq!(pull(&mut db, &parted), (3, 2, 0));
}

#[test]
fn upsert_twice_writes_nothing_the_second_time() {
    let (mut db, _tds) = setup("pull_upsert", POSTS_SEED);
    assert_eq!(pull(&mut db, "'dbo.Posts', mode => 'upsert'"), (5, 5, 0));
    // The target did not exist: loaded as append loads it (COPY FREEZE), not merged row by row.
    db.client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
        .unwrap();
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT bool_and(all_frozen)::text FROM pg_visibility_map('posts')"
        ),
        ["true"]
    );
    let xmins = texts(&mut db.client, "SELECT xmin::text FROM posts ORDER BY id");
    assert_eq!(
        pull(&mut db, "'dbo.Posts', mode => 'upsert', batch_rows => 2"),
        (5, 0, 5)
    );
    assert_eq!(
        texts(&mut db.client, "SELECT xmin::text FROM posts ORDER BY id"),
        xmins,
        "identical rows must get no new row version"
    );
    assert_eq!(
        texts(&mut db.client, "SELECT DISTINCT xmax::text FROM posts"),
        ["0"],
        "identical rows must not even be row-locked"
    );
    // The staging table (dropped at commit) keeps text uncompressed: it lives for one statement.
    db.client.batch_execute("BEGIN").unwrap();
    pull(&mut db, "'dbo.Posts', mode => 'upsert'");
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT attname || ' ' || attstorage::text FROM pg_attribute
             WHERE attrelid = 'pg_temp.pgmig_stage'::regclass AND attnum > 0 ORDER BY attnum"
        ),
        ["id p", "title e", "score p", "created p"]
    );
    db.client.batch_execute("ROLLBACK").unwrap();
    // Changed and missing rows in the target are put back; a target-only row stays.
    db.client
        .batch_execute(
            "UPDATE posts SET title = 'changed' WHERE id = 3;
             UPDATE posts SET score = NULL WHERE id = 1;
             DELETE FROM posts WHERE id = 8;
             INSERT INTO posts (id, title, created) VALUES (50, 'mine', now());",
        )
        .unwrap();
    assert_eq!(pull(&mut db, "'dbo.Posts', mode => 'upsert'"), (5, 3, 2));
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT id || ':' || title || ':' || coalesce(score::text, '-') FROM posts ORDER BY id"
        ),
        [
            "1:first:10",
            "2:second:-",
            "3:third:30",
            "5:fifth:50",
            "8:eighth:-1",
            "50:mine:-"
        ]
    );
    // Changes the type's `=` does not see are written all the same: a case-only change under a
    // case-insensitive collation, a scale in an unconstrained numeric. With and without the
    // comparison (which finds them by their bytes), the merge must not take them for equal.
    db.client
        .batch_execute(
            "CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2',
                                          deterministic = false);
             CREATE TABLE loose (id integer PRIMARY KEY, title text COLLATE case_blind,
                                 score numeric, created timestamp(3));
             INSERT INTO loose SELECT id, upper(title), score::numeric(6, 1), created FROM posts
                 WHERE id < 50;",
        )
        .unwrap();
    for compare in ["on", "off"] {
        db.client
            .batch_execute(&format!(
                "SET pgmig.upsert_compare = {compare};
                 UPDATE loose SET title = upper(title), score = score::numeric(6, 1);"
            ))
            .unwrap();
        assert_eq!(
            pull(&mut db, "'dbo.Posts', target => 'loose', mode => 'upsert'"),
            (5, 5, 0),
            "upsert_compare = {compare}"
        );
        assert_eq!(
            texts(
                &mut db.client,
                "SELECT title || ':' || coalesce(score::text, '-') FROM loose ORDER BY id"
            ),
            ["first:10", "second:-", "third:30", "fifth:50", "eighth:-1"],
            "upsert_compare = {compare}"
        );
    }
    db.client
        .batch_execute("RESET pgmig.upsert_compare")
        .unwrap();
}

#[test]
fn replace_swaps_in_a_fresh_table_keeping_privileges_and_comments() {
    let (mut db, tds) = setup("pull_replace", POSTS_SEED);
    assert_eq!(pull(&mut db, "'dbo.Posts'"), (5, 5, 0));
    db.client
        .batch_execute(
            // Roles are cluster-wide: a run that failed midway may have left it (its grants went
            // with the dropped test database).
            "DROP ROLE IF EXISTS pgmig_e2e_reader;
             CREATE ROLE pgmig_e2e_reader NOLOGIN;
             GRANT SELECT ON posts TO pgmig_e2e_reader;
             COMMENT ON TABLE posts IS 'from SQL Server';
             COMMENT ON COLUMN posts.title IS 'the title';
             DELETE FROM posts WHERE id > 2;",
        )
        .unwrap();
    // A failure midway leaves the old table as it was.
    tds.faults().set(Fault::DropAfterRows { rows: 3 });
    expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', mode => 'replace', batch_rows => 1)",
        &SqlState::CONNECTION_FAILURE,
    );
    tds.faults().clear();
    assert_eq!(count(&mut db.client, "SELECT count(*) FROM posts"), 2);

    assert_eq!(pull(&mut db, "'dbo.Posts', mode => 'replace'"), (5, 5, 0));
    assert_eq!(count(&mut db.client, "SELECT count(*) FROM posts"), 5);
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT obj_description('posts'::regclass, 'pg_class') || '/' || col_description('posts'::regclass, 2)"
        ),
        ["from SQL Server/the title"]
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT has_table_privilege('pgmig_e2e_reader', 'posts', 'SELECT')::text"
        ),
        ["true"]
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT conname::text FROM pg_constraint WHERE conrelid = 'posts'::regclass"
        ),
        ["posts_pkey"]
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT pg_get_serial_sequence('posts', 'id')"
        ),
        ["public.posts_id_seq"]
    );
    // A view on the target: replace refuses before any row moves and says to use truncate.
    db.client
        .batch_execute("CREATE VIEW recent AS SELECT id FROM posts")
        .unwrap();
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', mode => 'replace')",
        &SqlState::DEPENDENT_OBJECTS_STILL_EXIST,
    );
    assert!(
        all_text(&error).contains("view recent"),
        "{}",
        all_text(&error)
    );
    assert!(all_text(&error).contains("truncate"));
    db.client
        .batch_execute("DROP OWNED BY pgmig_e2e_reader; DROP ROLE pgmig_e2e_reader")
        .unwrap();
}

#[test]
fn errors_before_any_row_moves() {
    let (mut db, _tds) = setup("pull_errors", POSTS_SEED);
    fn fails_with(client: &mut postgres::Client, sql: &str, state: &SqlState, needle: &str) {
        let error = expect_error(client, sql, state);
        assert!(
            all_text(&error).contains(needle),
            "{sql}: {needle:?} not in {}",
            all_text(&error)
        );
    }
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', server => 'nope')",
        &SqlState::UNDEFINED_OBJECT,
        "nope",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Nope')",
        &SqlState::UNDEFINED_TABLE,
        "\"dbo.Nope\" does not exist on server \"src\"",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', columns => ARRAY['Id', 'Nope'])",
        &SqlState::UNDEFINED_COLUMN,
        "Id, Title, Score, Created",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', key => ARRAY['Nope'], mode => 'upsert')",
        &SqlState::UNDEFINED_COLUMN,
        "Nope",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.NoKey', mode => 'upsert')",
        &SqlState::INVALID_COLUMN_REFERENCE,
        "key =>",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', mode => 'merge')",
        &SqlState::INVALID_PARAMETER_VALUE,
        "append, truncate, replace, upsert",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', batch_rows => 0)",
        &SqlState::INVALID_PARAMETER_VALUE,
        "batch_rows",
    );
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', filter => '1=1) OR (1=1')",
        &SqlState::INVALID_PARAMETER_VALUE,
        "filter",
    );
    db.client
        .batch_execute("CREATE TABLE posts (id smallint, title varchar(5), score text)")
        .unwrap();
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts')",
        &SqlState::DATATYPE_MISMATCH,
        "\"created\": the target table has no such column",
    );
    db.client.batch_execute("DROP TABLE posts").unwrap();
    db.client
        .batch_execute("CREATE TABLE posts (id int, title text, score int, created timestamp)")
        .unwrap();
    fails_with(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', mode => 'upsert')",
        &SqlState::INVALID_COLUMN_REFERENCE,
        "no primary key or unique index on (id)",
    );
    // A role without INSERT on the target, and one without USAGE on the server.
    db.client
        .batch_execute(
            "CREATE ROLE pgmig_e2e_weak LOGIN;
             GRANT USAGE ON FOREIGN SERVER src TO pgmig_e2e_weak;
             CREATE USER MAPPING FOR pgmig_e2e_weak SERVER src
                 OPTIONS (user 'loader', password 'Sup3r-secret-pw');
             GRANT SELECT ON posts TO pgmig_e2e_weak;
             CREATE ROLE pgmig_e2e_none LOGIN;",
        )
        .unwrap();
    let mut weak = db.session(Some("pgmig_e2e_weak"));
    expect_error(
        &mut weak,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', target => 'public.posts')",
        &SqlState::INSUFFICIENT_PRIVILEGE,
    );
    let mut none = db.session(Some("pgmig_e2e_none"));
    let error = expect_error(
        &mut none,
        "SELECT * FROM pgmig.pull_table('dbo.Posts', server => 'src')",
        &SqlState::INSUFFICIENT_PRIVILEGE,
    );
    assert!(all_text(&error).contains("foreign server src"));
    assert_eq!(count(&mut db.client, "SELECT count(*) FROM posts"), 0);
    drop(weak);
    drop(none);
    db.client
        .batch_execute(
            "DROP USER MAPPING FOR pgmig_e2e_weak SERVER src;
             DROP OWNED BY pgmig_e2e_weak; DROP ROLE pgmig_e2e_weak; DROP ROLE pgmig_e2e_none;",
        )
        .ok();
}

#[test]
fn default_server_and_identifier_policy() {
    let (mut db, tds) = setup("pull_defaults", POSTS_SEED);
    add_server(&mut db.client, "other", &tds, "shop");
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('Posts')",
        &SqlState::UNDEFINED_OBJECT,
    );
    assert!(
        all_text(&error).contains("other, src"),
        "{}",
        all_text(&error)
    );
    db.client
        .batch_execute(
            "SET pgmig.server = 'other'; SET pgmig.identifier_case = 'preserve';
             CREATE SCHEMA landing; SET pgmig.target_schema = 'landing';",
        )
        .unwrap();
    assert_eq!(pull(&mut db, "'Posts'"), (5, 5, 0));
    assert_eq!(
        count(
            &mut db.client,
            "SELECT count(\"Id\") FROM landing.\"Posts\""
        ),
        5
    );
}

#[test]
fn describe_shows_types_keys_and_the_create_table() {
    let (mut db, _tds) = setup("pull_describe", POSTS_SEED);
    let rows = texts(
        &mut db.client,
        "SELECT concat_ws(' ', column_name, sql_server_type, nullable, identity, key_position, pg_column, pg_type)
         FROM pgmig.describe('dbo.Posts')",
    );
    assert_eq!(
        rows,
        [
            "Id int f t 1 id integer GENERATED BY DEFAULT AS IDENTITY",
            "Title nvarchar(100) f f title varchar(100)",
            "Score int t f score integer",
            "Created datetime2(3) f f created timestamp(3)",
        ]
    );
    let ddl = texts(&mut db.client, "SELECT pgmig.create_table_sql('dbo.Posts')");
    assert_eq!(
        ddl,
        ["CREATE TABLE \"public\".\"posts\" (\n    \"id\" integer NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n    \"title\" varchar(100) NOT NULL,\n    \"score\" integer,\n    \"created\" timestamp(3) NOT NULL,\n    PRIMARY KEY (\"id\")\n)"]
    );
    expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.describe('dbo.Missing')",
        &SqlState::UNDEFINED_TABLE,
    );
}

#[test]
fn nul_characters_fail_naming_the_row_or_are_stripped() {
    let (mut db, _tds) = setup("pull_nul", POSTS_SEED);
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Nul')",
        &SqlState::UNTRANSLATABLE_CHARACTER,
    );
    let text = all_text(&error);
    assert!(text.contains("\"T\"") && text.contains("Id = 7"), "{text}");
    assert!(text.contains("pgmig.nul_characters"), "{text}");
    db.client
        .batch_execute("SET pgmig.nul_characters = 'strip'")
        .unwrap();
    assert_eq!(pull(&mut db, "'dbo.Nul'"), (2, 2, 0));
    assert_eq!(
        texts(&mut db.client, "SELECT t FROM nul ORDER BY id"),
        ["ok", "ab"]
    );
}

#[test]
fn a_dropped_connection_fails_the_statement_and_the_run_is_recorded() {
    let (mut db, tds) = setup("pull_drop", POSTS_SEED);
    tds.faults().set(Fault::DropAfterRows { rows: 2 });
    let error = expect_error(
        &mut db.client,
        "SELECT * FROM pgmig.pull_table('dbo.Posts')",
        &SqlState::CONNECTION_FAILURE,
    );
    assert!(all_text(&error).contains("127.0.0.1"));
    tds.faults().clear();
    // The failed run rolled back its CREATE TABLE; its record stayed.
    assert_eq!(
        count(
            &mut db.client,
            "SELECT count(*) FROM pg_class WHERE relname = 'posts'"
        ),
        0
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT concat_ws(' ', status, sqlstate, server) FROM pgmig.runs ORDER BY run_id"
        ),
        // The server resolved from the default, not the (absent) argument.
        ["failed 08006 src"]
    );
    // A run inside a transaction that rolls back: recorded ok, its transaction aborted.
    db.client
        .batch_execute("BEGIN; SELECT * FROM pgmig.pull_table('dbo.Posts'); ROLLBACK;")
        .unwrap();
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT status || ' ' || rows_read || ' ' || transaction FROM pgmig.runs ORDER BY run_id"
        ),
        ["failed 0 aborted", "ok 5 aborted"]
    );
}

#[test]
fn cancel_stops_a_slow_pull_within_a_second() {
    let (mut db, tds) = setup("pull_cancel", POSTS_SEED);
    // Each packet waits 5 s: without a working cancel the statement takes far longer.
    tds.faults().set(Fault::DelayPackets { millis: 5_000 });
    let started = std::time::Instant::now();
    expect_error(
        &mut db.client,
        "SET statement_timeout = '300ms'; SELECT * FROM pgmig.pull_table('dbo.Posts')",
        &SqlState::QUERY_CANCELED,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    tds.faults().clear();
    db.client.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(
        texts(&mut db.client, "SELECT status FROM pgmig.runs"),
        ["cancelled"]
    );
}

#[test]
fn sql_variant_arrives_as_its_text() {
    let seed = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Variants (Id int NOT NULL PRIMARY KEY, V sql_variant NULL)
GO
INSERT INTO dbo.Variants VALUES (1, 42), (2, N'héllo 😀'), (3, CAST(12.50 AS decimal(5,2))),
    (4, CAST('2024-01-02 03:04:05.1234567' AS datetime2(7))), (5, NULL),
    (6, CAST('2024-01-02 15:04:05.997' AS datetime))
GO
";
    let (mut db, _tds) = setup("pull_variant", seed);
    db.client
        .batch_execute("SELECT * FROM pgmig.pull_table('dbo.Variants')")
        .unwrap();
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = 'variants'::regclass AND attname = 'v'"
        ),
        ["text"]
    );
    // What CAST(v AS nvarchar(4000)) gives in SQL Server: each base type's style-0 text.
    assert_eq!(
        column_texts(&mut db, "variants", "v"),
        [
            "42",
            "héllo 😀",
            "12.50",
            "2024-01-02 03:04:05.1234567",
            "NULL",
            "Jan  2 2024  3:04PM"
        ]
    );
}

#[test]
fn clr_types_arrive_as_their_serialized_bytes() {
    let seed = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Shapes (Id int NOT NULL PRIMARY KEY, H hierarchyid NULL, G geometry NULL,
    GG geography NULL)
GO
INSERT INTO dbo.Shapes VALUES
    (1, 0x58, 0x00000000010C000000000000F03F0000000000000040,
        0xE6100000010C0000000000004A400000000000003440),
    (2, NULL, NULL, NULL)
GO
";
    let (mut db, _tds) = setup("pull_clr", seed);
    // describe maps every CLR column to bytea before anything is read.
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT sql_server_type || ' ' || pg_type FROM pgmig.describe('dbo.Shapes')
             WITH ORDINALITY WHERE column_name <> 'Id' ORDER BY ordinality"
        ),
        ["hierarchyid bytea", "geometry bytea", "geography bytea"]
    );
    db.client
        .batch_execute("SELECT * FROM pgmig.pull_table('dbo.Shapes')")
        .unwrap();
    assert_eq!(column_texts(&mut db, "shapes", "h"), ["\\x58", "NULL"]);
    assert_eq!(
        column_texts(&mut db, "shapes", "g"),
        ["\\x00000000010c000000000000f03f0000000000000040", "NULL"]
    );
    assert_eq!(
        column_texts(&mut db, "shapes", "gg"),
        ["\\xe6100000010c0000000000004a400000000000003440", "NULL"]
    );
}

#[test]
fn upsert_with_composite_and_uuid_keys() {
    let seed = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.ByPair (A nvarchar(10) NOT NULL, B int NOT NULL, V nvarchar(20) NULL,
    PRIMARY KEY (A, B))
GO
CREATE TABLE dbo.ByGuid (G uniqueidentifier NOT NULL PRIMARY KEY, V int NULL)
GO
CREATE TABLE dbo.Wide (Id int NOT NULL PRIMARY KEY, Body nvarchar(max) NULL)
GO
WIDE_ROWS
GO
INSERT INTO dbo.ByPair VALUES (N'a', 1, N'one'), (N'a', 2, NULL), (N'é', 1, N'three'),
    (N'z', 9, N'four')
INSERT INTO dbo.ByGuid VALUES ('6F9619FF-8B86-D011-B42D-00C04FC964FF', 1),
    ('00000000-0000-0000-0000-000000000001', NULL), ('FFFFFFFF-0000-0000-0000-000000000000', 3)
GO
";
    // 50 rows of ~1.5 KB: ~75 KB staged, more than a work_mem of 64 kB.
    let wide_rows: Vec<String> = (1..=50)
        .map(|id| {
            format!(
                "INSERT INTO dbo.Wide VALUES ({id}, REPLICATE(CAST(N'x' AS nvarchar(max)), 1500))"
            )
        })
        .collect();
    let seed = seed.replace("WIDE_ROWS", &wide_rows.join("\n"));
    let (mut db, _tds) = setup("pull_upsert_keys", &seed);
    let pair = "'dbo.ByPair', mode => 'upsert', batch_rows => 3";
    let guid = "'dbo.ByGuid', mode => 'upsert', batch_rows => 2";
    assert_eq!(pull(&mut db, pair), (4, 4, 0));
    assert_eq!(pull(&mut db, guid), (3, 3, 0));
    assert_eq!(pull(&mut db, pair), (4, 0, 4));
    assert_eq!(pull(&mut db, guid), (3, 0, 3));
    // The composite key has orderable columns: identical rows are filtered out before
    // ON CONFLICT and stay unlocked. uuid has no min/max: ON CONFLICT alone decides.
    assert_eq!(
        texts(&mut db.client, "SELECT DISTINCT xmax::text FROM bypair"),
        ["0"]
    );
    // Without the comparison (Wide's int key would otherwise be compared first), wide rows in a
    // batch larger than work_mem (above UPSERT_PREFILTER_MAX_ROW_BYTES per row) are merged by
    // ON CONFLICT alone, which row-locks them; nothing is written either way.
    db.client
        .batch_execute("SET work_mem = '64kB'; SET pgmig.upsert_compare = off")
        .unwrap();
    let wide = "'dbo.Wide', mode => 'upsert'";
    assert_eq!(pull(&mut db, wide), (50, 50, 0));
    db.client
        .batch_execute("UPDATE wide SET body = 'short' WHERE id = 2")
        .unwrap();
    assert_eq!(pull(&mut db, wide), (50, 1, 49));
    assert_eq!(pull(&mut db, wide), (50, 0, 50));
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT DISTINCT (xmax <> 0)::text || ':' || length(body) FROM wide"
        ),
        ["true:1500"]
    );
    db.client
        .batch_execute("RESET work_mem; RESET pgmig.upsert_compare")
        .unwrap();
    // With it, only the changed row is staged, merged and locked.
    let xmaxes = "SELECT id || ':' || xmax FROM wide WHERE id <> 2 ORDER BY id";
    let before = texts(&mut db.client, xmaxes);
    db.client
        .batch_execute("UPDATE wide SET body = 'short' WHERE id = 2")
        .unwrap();
    assert_eq!(
        upsert(&mut db, wide),
        Upserted {
            read: 50,
            written: 1,
            unchanged: 49,
            staged: 1
        }
    );
    assert_eq!(texts(&mut db.client, xmaxes), before);
    db.client
        .batch_execute(
            "UPDATE bypair SET v = 'changed' WHERE a = 'é';
             UPDATE bypair SET v = 'set' WHERE a = 'a' AND b = 2;
             DELETE FROM bypair WHERE a = 'z';
             UPDATE byguid SET v = 99 WHERE g = '00000000-0000-0000-0000-000000000001';",
        )
        .unwrap();
    assert_eq!(pull(&mut db, pair), (4, 3, 1));
    // A uuid key is compared too (looked up by its values): only the changed row is staged.
    assert_eq!(
        upsert(&mut db, guid),
        Upserted {
            read: 3,
            written: 1,
            unchanged: 2,
            staged: 1
        }
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT a || b || ':' || coalesce(v, '-') FROM bypair ORDER BY a COLLATE \"C\", b"
        ),
        ["a1:one", "a2:-", "z9:four", "é1:three"]
    );
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT g || ':' || coalesce(v::text, '-') FROM byguid ORDER BY g"
        ),
        [
            "00000000-0000-0000-0000-000000000001:-",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff:1",
            "ffffffff-0000-0000-0000-000000000000:3"
        ]
    );
}

/// Rows of `table` as PostgreSQL prints them, ordered by id.
fn row_texts(db: &mut TestDb, table: &str) -> Vec<String> {
    texts(
        &mut db.client,
        &format!("SELECT t::text FROM {table} t ORDER BY id"),
    )
}

/// How many logins so far came from pgmig's own TDS reader (client interface "pgmig").
fn native_logins(tds: &pgmig_tds_server::RunningServer) -> usize {
    tds.client_interfaces()
        .iter()
        .filter(|name| name.as_str() == "pgmig")
        .count()
}

/// `columns =>` for every column of dbo.AllTypes but the legacy text, ntext and image, which
/// the native reader hands to tiberius.
fn modern_columns(db: &mut TestDb) -> String {
    let modern: Vec<String> = texts(
        &mut db.client,
        "SELECT column_name FROM pgmig.describe('dbo.AllTypes')
         WHERE sql_server_type NOT IN ('text', 'ntext', 'image')",
    );
    assert_eq!(modern.len(), 33, "{modern:?}");
    format!(
        "ARRAY[{}]",
        modern
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[test]
fn native_and_tiberius_readers_load_the_same_values() {
    let (mut db, tds) = setup("pull_readers", TYPES_SEED);
    let columns = modern_columns(&mut db);

    assert_eq!(native_logins(&tds), 0);
    pull(
        &mut db,
        &format!("'dbo.AllTypes', target => 'native_modern', columns => {columns}"),
    );
    assert_eq!(native_logins(&tds), 1, "the default reader is pgmig's own");
    // With a text column the native reader gives the read to tiberius, on its own connection.
    pull(&mut db, "'dbo.AllTypes', target => 'native_all'");

    db.client
        .batch_execute("SET pgmig.tds_reader = 'tiberius'")
        .unwrap();
    let logins_before = native_logins(&tds);
    pull(
        &mut db,
        &format!("'dbo.AllTypes', target => 'tiberius_modern', columns => {columns}"),
    );
    pull(&mut db, "'dbo.AllTypes', target => 'tiberius_all'");
    assert_eq!(native_logins(&tds), logins_before, "tiberius only");

    let native = row_texts(&mut db, "native_modern");
    assert_eq!(native.len(), 4);
    assert_eq!(native, row_texts(&mut db, "tiberius_modern"));
    assert_eq!(
        row_texts(&mut db, "native_all"),
        row_texts(&mut db, "tiberius_all")
    );
    // Spot checks that the comparison compares something: the non-BMP text, the 5000-char
    // nvarchar(max) (several PLP chunks or one), and the NULL row.
    assert!(native[1].contains("😀 non-BMP"), "{}", native[1]);
    assert!(native[1].contains(&"é".repeat(5000)));
    assert!(native[2].starts_with("(3,,,"), "{}", native[2]);
}

#[test]
fn native_reader_at_every_encryption_level_and_the_smallest_packets() {
    let tds = pgmig_tds_server::Server::start(pgmig_tds_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user: pgmig_e2e::TDS_USER.into(),
        password: pgmig_e2e::TDS_PASSWORD.into(),
        seed_sql: Some(TYPES_SEED.into()),
        ..pgmig_tds_server::ServerConfig::default()
    })
    .unwrap();
    // SQL Server's "Force Encryption": a client asking for login-only TLS gets all of it.
    let forced = pgmig_tds_server::Server::start(pgmig_tds_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        user: pgmig_e2e::TDS_USER.into(),
        password: pgmig_e2e::TDS_PASSWORD.into(),
        seed_sql: Some(TYPES_SEED.into()),
        force_encryption: true,
        ..pgmig_tds_server::ServerConfig::default()
    })
    .unwrap();
    let mut db = TestDb::new("pull_levels");
    add_server(&mut db.client, "src", &tds, "shop");
    db.client
        .batch_execute("SET TIME ZONE 'UTC'; SET pgmig.progress_interval = 0;")
        .unwrap();
    let columns = modern_columns(&mut db);
    db.client
        .batch_execute("SET pgmig.tds_reader = 'tiberius'")
        .unwrap();
    pull(
        &mut db,
        &format!("'dbo.AllTypes', target => 'expected', columns => {columns}"),
    );
    db.client.batch_execute("RESET pgmig.tds_reader").unwrap();
    let expected = row_texts(&mut db, "expected");

    for (name, server, options) in [
        ("enc_on", &tds, "encrypt 'on'"),
        ("enc_required", &tds, "encrypt 'required'"),
        ("enc_strict", &tds, "encrypt 'strict'"),
        ("enc_forced", &forced, "encrypt 'off'"),
        // 512 bytes, the least SQL Server allows: rows and PLP chunks straddle packets.
        ("packets_512", &tds, "encrypt 'on', packet_size '512'"),
    ] {
        db.client
            .batch_execute(&format!(
                "CREATE SERVER {name} FOREIGN DATA WRAPPER pgmig
                     OPTIONS (host '127.0.0.1', port '{}', database 'shop',
                              trust_server_certificate 'true', {options});
                 CREATE USER MAPPING FOR CURRENT_USER SERVER {name}
                     OPTIONS (user '{}', password '{}');",
                server.addr().port(),
                pgmig_e2e::TDS_USER,
                pgmig_e2e::TDS_PASSWORD,
            ))
            .unwrap();
        let native_before = native_logins(server);
        pull(
            &mut db,
            &format!(
                "'dbo.AllTypes', server => '{name}', target => '{name}', columns => {columns}"
            ),
        );
        assert_eq!(native_logins(server), native_before + 1, "{name}");
        assert_eq!(row_texts(&mut db, name), expected, "{name}");
    }
}

#[test]
fn upsert_compares_every_type_and_stages_only_rows_that_differ() {
    let (mut db, _tds) = setup("pull_upsert_compare", TYPES_SEED);
    let all = "'dbo.AllTypes', mode => 'upsert'";
    let upserted = |read, written, staged| Upserted {
        read,
        written,
        unchanged: read - written,
        staged,
    };
    // Created by this pull: loaded as append loads it, no staging.
    assert_eq!(upsert(&mut db, all), upserted(4, 4, 0));
    let loaded = row_texts(&mut db, "alltypes");
    // Every type's stored value, in its binary send format, is byte for byte what the stream
    // carries (minimums, maximums, NULLs): nothing to stage, nothing touched.
    assert_eq!(upsert(&mut db, all), upserted(4, 0, 0));
    // One change at a time in row 2, in every way of comparing: by value (bool, int2/4/8,
    // float4/8 bits, date, time, timestamp, timestamptz), 16 bytes (uuid), varlena bytes
    // (varchar, bytea, a 10 KB text stored compressed), the send function (bpchar, numeric,
    // xml), and a value made NULL. Each is found, staged alone and put back.
    for (column, changed) in [
        ("c_bit", "NOT c_bit"),
        ("c_smallint", "c_smallint - 1"),
        ("c_int", "c_int - 1"),
        ("c_bigint", "c_bigint - 1"),
        ("c_real", "c_real / 2"),
        ("c_float", "c_float / 2"),
        ("c_date", "c_date - 1"),
        ("c_time7", "c_time7 - interval '1 microsecond'"),
        ("c_datetime2_7", "c_datetime2_7 - interval '1 microsecond'"),
        ("c_dto", "c_dto - interval '1 microsecond'"),
        ("c_guid", "'6f9619ff-8b86-d011-b42d-00c04fc964fe'"),
        ("c_nvarchar", "c_nvarchar || '!'"),
        ("c_varbinary", "'\\xdeadbeee'::bytea"),
        (
            "c_nvarchar_max",
            "overlay(c_nvarchar_max placing 'e' from 2500)",
        ),
        ("c_char", "'abcdf'"),
        ("c_num18_4", "c_num18_4 - 0.0001"),
        ("c_xml", "'<r/>'"),
        ("c_dec38_38", "NULL"),
    ] {
        db.client
            .batch_execute(&format!(
                "UPDATE alltypes SET {column} = {changed} WHERE id = 2"
            ))
            .unwrap();
        assert_ne!(row_texts(&mut db, "alltypes"), loaded, "{column}");
        assert_eq!(upsert(&mut db, all), upserted(4, 1, 1), "{column}");
        assert_eq!(row_texts(&mut db, "alltypes"), loaded, "{column}");
    }
    // A NULL made a value, a deleted row and a target-only row, in batches of one.
    db.client
        .batch_execute(
            "UPDATE alltypes SET c_int = 7 WHERE id = 3;
             DELETE FROM alltypes WHERE id = 1;
             INSERT INTO alltypes (id, c_rowversion) VALUES (0, '\\x00'), (9, '\\x00');",
        )
        .unwrap();
    let one_by_one = "'dbo.AllTypes', mode => 'upsert', batch_rows => 1";
    assert_eq!(upsert(&mut db, one_by_one), upserted(4, 2, 2));
    assert_eq!(
        texts(&mut db.client, "SELECT id::text FROM alltypes ORDER BY id"),
        ["0", "1", "2", "3", "4", "9"]
    );
    db.client
        .batch_execute("DELETE FROM alltypes WHERE id IN (0, 9)")
        .unwrap();
    assert_eq!(row_texts(&mut db, "alltypes"), loaded);
    // pgmig.upsert_compare off: every row goes through the staging table, as before.
    db.client
        .batch_execute("SET pgmig.upsert_compare = off")
        .unwrap();
    assert_eq!(upsert(&mut db, all), upserted(4, 0, 4));
}

#[test]
fn upsert_compare_with_composite_keys_duplicates_and_rights() {
    let seed = "
CREATE DATABASE shop
GO
USE shop
GO
CREATE TABLE dbo.Pairs (A int NOT NULL, B bigint NOT NULL, V nvarchar(20) NULL,
    PRIMARY KEY (A, B))
GO
INSERT INTO dbo.Pairs VALUES (-1, -9223372036854775808, N'min'), (-1, 5, N'a'), (0, 0, NULL),
    (2, 9223372036854775807, N'max'), (2, -3, N'b')
GO
CREATE TABLE dbo.Dups (Id int NOT NULL PRIMARY KEY, Grp smallint NOT NULL, V int NULL)
GO
INSERT INTO dbo.Dups VALUES (1, 7, 1), (2, 7, 2), (3, 8, 3)
GO
CREATE TABLE dbo.WideDups (Id int NOT NULL PRIMARY KEY, Grp int NOT NULL, Body nvarchar(max))
GO
INSERT INTO dbo.WideDups VALUES (1, 7, REPLICATE(CAST(N'a' AS nvarchar(max)), 300000)),
    (2, 7, REPLICATE(CAST(N'b' AS nvarchar(max)), 300000))
GO
CREATE TABLE dbo.Named (Code nvarchar(10) NOT NULL PRIMARY KEY, V int NULL)
GO
INSERT INTO dbo.Named VALUES (N'b', 1), (N'A', 2)
GO
";
    let (mut db, _tds) = setup("pull_upsert_compare_keys", seed);
    let upserted = |read, written, staged| Upserted {
        read,
        written,
        unchanged: read - written,
        staged,
    };
    // A key of two integer columns, with both ends of bigint, in batches of two.
    let pairs = "'dbo.Pairs', mode => 'upsert', batch_rows => 2";
    assert_eq!(upsert(&mut db, pairs), upserted(5, 5, 0));
    let loaded = texts(
        &mut db.client,
        "SELECT a || ',' || b || ':' || coalesce(v, '-') FROM pairs ORDER BY a, b",
    );
    assert_eq!(upsert(&mut db, pairs), upserted(5, 0, 0));
    db.client
        .batch_execute(
            "UPDATE pairs SET v = 'x' WHERE a = 2 AND b = -3;
             DELETE FROM pairs WHERE b = -9223372036854775808;
             INSERT INTO pairs VALUES (1, 1, 'mine'), (-1, 6, 'mine too');",
        )
        .unwrap();
    assert_eq!(upsert(&mut db, pairs), upserted(5, 2, 2));
    assert_eq!(
        texts(
            &mut db.client,
            "SELECT a || ',' || b || ':' || coalesce(v, '-') FROM pairs
             WHERE v IS DISTINCT FROM 'mine' AND v IS DISTINCT FROM 'mine too' ORDER BY a, b"
        ),
        loaded
    );

    // A key the source does not hold unique: both rows of Grp 7 are staged, and the merge fails
    // as ON CONFLICT does (the first updates the target's row, the second would again), with
    // the comparison or without it.
    db.client
        .batch_execute(
            "CREATE TABLE dups (id int, grp smallint UNIQUE, v int);
             INSERT INTO dups VALUES (1, 7, 99), (3, 8, 3);",
        )
        .unwrap();
    for compare in ["on", "off"] {
        let dups = format!(
            "SET pgmig.upsert_compare = {compare};
             SELECT * FROM pgmig.pull_table('dbo.Dups', key => ARRAY['Grp'], mode => 'upsert')"
        );
        let error = expect_error(&mut db.client, &dups, &SqlState::CARDINALITY_VIOLATION);
        assert!(error.message().contains("a second time"), "{error:?}");
    }
    // A key twice, one copy identical to the target's row: that copy is left out, by the
    // comparison as by the merge's prefilter without it, and the other one merged. Rows of
    // 300 KB are a comparison window each.
    db.client
        .batch_execute("CREATE TABLE widedups (id int, grp int UNIQUE, body text)")
        .unwrap();
    for (compare, staged) in [("on", 1), ("off", 2)] {
        db.client
            .batch_execute(&format!(
                "SET pgmig.upsert_compare = {compare}; TRUNCATE widedups;
                 INSERT INTO widedups VALUES (2, 7, repeat('b', 300000));"
            ))
            .unwrap();
        let args = "'dbo.WideDups', key => ARRAY['Grp'], mode => 'upsert'";
        assert_eq!(upsert(&mut db, args), upserted(2, 1, staged), "{compare}");
        assert_eq!(
            texts(&mut db.client, "SELECT id || left(body, 2) FROM widedups"),
            ["1aa"]
        );
    }
    db.client
        .batch_execute("RESET pgmig.upsert_compare")
        .unwrap();

    // A text key orders by collation, differently on each side: no comparison, every row staged.
    let named = "'dbo.Named', mode => 'upsert'";
    assert_eq!(upsert(&mut db, named), upserted(2, 2, 0));
    assert_eq!(upsert(&mut db, named), upserted(2, 0, 2));

    // The comparison reads the target with the caller's rights: without SELECT on it, the
    // upsert fails as ON CONFLICT's WHERE would, and reads nothing.
    db.client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS pgmig_e2e_cmp_writer;
             CREATE ROLE pgmig_e2e_cmp_writer;
             GRANT USAGE ON FOREIGN SERVER src TO pgmig_e2e_cmp_writer;
             GRANT INSERT, UPDATE ON pairs TO pgmig_e2e_cmp_writer;
             CREATE USER MAPPING FOR pgmig_e2e_cmp_writer SERVER src
                 OPTIONS (user '{}', password '{}');",
            pgmig_e2e::TDS_USER,
            pgmig_e2e::TDS_PASSWORD
        ))
        .unwrap();
    for compare in ["on", "off"] {
        let error = expect_error(
            &mut db.client,
            &format!(
                "SET pgmig.upsert_compare = {compare}; SET ROLE pgmig_e2e_cmp_writer;
                 SELECT * FROM pgmig.pull_table('dbo.Pairs', mode => 'upsert')"
            ),
            &SqlState::INSUFFICIENT_PRIVILEGE,
        );
        assert!(error.message().contains("pairs"), "{error:?}");
        db.client.batch_execute("RESET ROLE").unwrap();
    }
    db.client
        .batch_execute(
            "DROP USER MAPPING FOR pgmig_e2e_cmp_writer SERVER src;
             DROP OWNED BY pgmig_e2e_cmp_writer; DROP ROLE pgmig_e2e_cmp_writer;",
        )
        .unwrap();
}

#[test]
fn upsert_compares_a_uuid_key_across_windows_in_sql_servers_order() {
    // 400 rows of ~1 KB in batches of 300 (the first two 256 KB comparison windows), keyed by
    // uniqueidentifiers that SQL Server orders (by its own byte order) differently from
    // PostgreSQL.
    let guid = |i: u64| {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7);
        format!(
            "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            x >> 32,
            (x >> 16) & 0xffff,
            x & 0xffff,
            (i * 7919) & 0xffff,
            x.rotate_left(17) & 0xffff_ffff_ffff
        )
    };
    let rows: Vec<String> = (0..400)
        .map(|i| {
            format!(
                "INSERT INTO dbo.Docs VALUES ('{}', {i}, REPLICATE(CAST(N'd' AS nvarchar(max)), 1000))",
                guid(i)
            )
        })
        .collect();
    let seed = format!(
        "CREATE DATABASE shop\nGO\nUSE shop\nGO\n\
         CREATE TABLE dbo.Docs (G uniqueidentifier NOT NULL PRIMARY KEY, N int NOT NULL, \
         Body nvarchar(max) NULL)\nGO\n{}\nGO\n",
        rows.join("\n")
    );
    let (mut db, _tds) = setup("pull_upsert_uuid", &seed);
    let docs = "'dbo.Docs', mode => 'upsert', batch_rows => 300";
    assert_eq!(pull(&mut db, docs), (400, 400, 0));
    db.client
        .batch_execute("CREATE TABLE docs_ref AS SELECT * FROM docs")
        .unwrap();
    let upserted = |written, staged| Upserted::of(400, written, staged);
    assert_eq!(upsert(&mut db, docs), upserted(0, 0));
    db.client
        .batch_execute(&format!(
            "UPDATE docs SET n = -1 WHERE g IN ('{}', '{}');
             UPDATE docs SET body = body || 'x' WHERE g = '{}';
             DELETE FROM docs WHERE g = '{}';
             INSERT INTO docs VALUES ('eeeeeeee-0000-0000-0000-000000000000', -5, 'mine');",
            guid(0),
            guid(399),
            guid(150),
            guid(222)
        ))
        .unwrap();
    assert_eq!(upsert(&mut db, docs), upserted(4, 4));
    assert_eq!(
        rows_differing(
            &mut db.client,
            "SELECT * FROM docs WHERE n >= 0",
            "docs_ref"
        ),
        0
    );
}
