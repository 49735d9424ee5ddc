//! The contract between the SQL engine (`engine/`) and the wire encoder (`wire/`):
//! SQL Server column types, values in SQL Server's own units, result sets and errors.
//!
//! Values are kept in the units SQL Server itself stores (days since 0001-01-01, 100 ns
//! ticks, 1/300 s ticks, scaled integers for decimal and money) so that encoding them on the
//! wire is exact and nothing passes through floats or calendar libraries.

use std::sync::Arc;

/// A SQL Server column type with its parameters, as `sys.types`/`sys.columns` would show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// `decimal(p,s)`; `numeric` is the same type under another name (kept for the catalog).
    Decimal {
        precision: u8,
        scale: u8,
        numeric: bool,
    },
    Money,
    SmallMoney,
    Real,
    /// `float(53)`; `float(1..24)` is `real`.
    Float,
    Date,
    /// `time(n)`, n = 0..=7.
    Time {
        scale: u8,
    },
    SmallDateTime,
    DateTime,
    DateTime2 {
        scale: u8,
    },
    DateTimeOffset {
        scale: u8,
    },
    /// Single-byte strings; `len` in bytes (1..=8000), `None` = `max`.
    Char {
        len: u16,
        collation: Collation,
    },
    VarChar {
        len: Option<u16>,
        collation: Collation,
    },
    Text {
        collation: Collation,
    },
    /// UTF-16 strings; `len` in characters (1..=4000), `None` = `max`.
    NChar {
        len: u16,
        collation: Collation,
    },
    NVarChar {
        len: Option<u16>,
        collation: Collation,
    },
    NText {
        collation: Collation,
    },
    Binary {
        len: u16,
    },
    VarBinary {
        len: Option<u16>,
    },
    Image,
    UniqueIdentifier,
    Xml,
    /// `rowversion`/`timestamp`: binary(8), server-generated.
    RowVersion,
    SqlVariant,
    /// A system CLR type (`hierarchyid`, `geometry`, `geography`): values are the type's
    /// serialized bytes (`Value::Bytes`); sys.types shows them as assembly types.
    Clr(ClrType),
}

/// The CLR types SQL Server ships (sys.types user_type_id 128..=130, system_type_id 240).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClrType {
    HierarchyId,
    Geometry,
    Geography,
}

/// A collation as TDS carries it (5 bytes: LCID + flags + version, sort id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Collation {
    pub name: &'static str,
    /// LCID and flags, little-endian u32 as on the wire (lower 20 bits LCID).
    pub info: u32,
    pub sort_id: u8,
    /// Windows code page used for single-byte (`char`/`varchar`/`text`) data; 65001 = UTF-8.
    pub code_page: u16,
}

impl Collation {
    /// SQL Server's default for a US English install.
    pub const SQL_LATIN1_GENERAL_CP1_CI_AS: Collation = Collation {
        name: "SQL_Latin1_General_CP1_CI_AS",
        info: 0x00D0_0409,
        sort_id: 52,
        code_page: 1252,
    };
}

/// One value, in SQL Server's own units.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bit(bool),
    TinyInt(u8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    /// Unscaled integer and scale: 123.45 is `Decimal { value: 12345, scale: 2 }`.
    Decimal {
        value: i128,
        scale: u8,
    },
    /// money/smallmoney in ten-thousandths: 1.2345 is `Money(12345)`.
    Money(i64),
    Real(f32),
    Float(f64),
    /// Days since 0001-01-01.
    Date(u32),
    /// 100 ns ticks since midnight (the column's scale decides how many are sent).
    Time(u64),
    /// Days since 1900-01-01 and minutes since midnight.
    SmallDateTime {
        days: u16,
        minutes: u16,
    },
    /// Days since 1900-01-01 (may be negative, down to 1753-01-01) and 1/300 s ticks.
    DateTime {
        days: i32,
        ticks_300: u32,
    },
    /// Days since 0001-01-01 and 100 ns ticks since midnight.
    DateTime2 {
        days: u32,
        ticks_100ns: u64,
    },
    /// UTC date and time, plus the offset in minutes (-840..=840).
    DateTimeOffset {
        days: u32,
        ticks_100ns: u64,
        offset_minutes: i16,
    },
    /// Any character type; the encoder converts to UTF-16 or the column's code page.
    Str(Arc<str>),
    /// binary/varbinary/image/rowversion, and the serialized form of CLR types.
    Bytes(Arc<[u8]>),
    /// RFC 4122 byte order (as printed); the wire uses SQL Server's mixed-endian order.
    Guid([u8; 16]),
}

/// A result-set column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    pub identity: bool,
    pub computed: bool,
}

/// Rows of a result set. Rows are produced lazily so that a SELECT of a large table streams.
pub enum RowSource {
    /// Values the wire side encodes itself.
    Values(Box<dyn Iterator<Item = Vec<Value>> + Send>),
    /// Complete ROW/NBCROW token bytes already encoded for these columns (generated
    /// benchmark tables); the wire side copies them as they are.
    Encoded(Box<dyn Iterator<Item = Arc<[u8]>> + Send>),
    /// Values whose computation can fail part-way (a conversion error in row N): an `Err`
    /// ends the result set with that error after the rows before it, as SQL Server does.
    Fallible(Box<dyn Iterator<Item = Result<Vec<Value>, SqlError>> + Send>),
}

pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: RowSource,
}

/// A SQL Server error as the ERROR token carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub number: u32,
    pub state: u8,
    pub class: u8,
    pub message: String,
    pub line: u32,
}

impl SqlError {
    pub fn new(number: u32, state: u8, class: u8, message: impl Into<String>) -> Self {
        SqlError {
            number,
            state,
            class,
            message: message.into(),
            line: 1,
        }
    }
}

/// What one statement of a batch produced, in order.
///
/// How the wire side turns them into tokens: `Rows`, `Done` and `Error` each end with a
/// DONE (DONEINPROC inside an RPC) whose MORE bit is set unless it is the batch's last;
/// `Info` and `DatabaseChanged` emit only their INFO / ENVCHANGE token (so `USE db` is
/// `DatabaseChanged`, `Info` 5701, `Done`). A batch whose last outcome is not a DONE-producing
/// one (or that has none) gets a final DONE appended. RPCs end with RETURNSTATUS 0 and DONEPROC.
pub enum StatementOutcome {
    /// A SELECT: COLMETADATA, rows, DONE with the row count.
    Rows(ResultSet),
    /// DDL/DML/SET: DONE, with a row count for INSERT/UPDATE/DELETE.
    Done { rows_affected: Option<u64> },
    /// An informational message (INFO token), e.g. PRINT or "Changed database context".
    Info { number: u32, message: String },
    /// ENVCHANGE after USE db.
    DatabaseChanged { old: String, new: String },
    /// The statement failed; per SQL Server's rules the batch may go on or stop
    /// (the engine decides and simply stops producing outcomes when it aborts).
    Error(SqlError),
}

/// One decoded RPC parameter (e.g. of `sp_executesql`), as the wire side hands it to
/// `engine::Session::execute_rpc`. Lives here (not in `engine/`) because both sides use it.
/// `name` keeps its `@` (empty for positional parameters); `sql_type` is the type the client
/// declared in TYPE_INFO (e.g. `nvarchar(4000)` for a tiberius `&str`).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcParam {
    pub name: String,
    pub value: Value,
    pub sql_type: SqlType,
    pub output: bool,
}
