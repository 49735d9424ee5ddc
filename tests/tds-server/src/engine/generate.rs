//! Generated benchmark tables: a StackOverflow-like `dbo.Posts` and a narrow `dbo.Votes`
//! whose rows are computed from the row number (Id = row number + 1), so they cost no memory,
//! are the same bytes for the same N, and are already in clustered-key order.
//!
//! A plain SELECT of them is served as pre-encoded ROW/NBCROW tokens: each row is encoded
//! straight from its computed fields, and the long strings (Body ~1 KB, Title, Tags) come
//! from small pools whose UTF-16 encodings are made once, so the server is never the
//! bottleneck of a benchmark.

use std::sync::Arc;

use super::convert::{days_from_civil, DAYS_TO_1900};
use super::expr::BExpr;
use super::storage::{ColumnInfo, KeyInfo};
use crate::types::{Collation, Column, SqlType, Value};
use crate::wire::encode::{self, ColumnPlan};
use crate::wire::tokens::token;

/// The database `generate` fills when no seed script named one.
pub const DEFAULT_GENERATED_DATABASE: &str = "StackOverflow2010";

/// Distinct bodies/titles/tags; rows pick one by a hash, so values repeat but cost nothing.
const POOL: usize = 64;

#[derive(Clone)]
pub enum GenKind {
    Posts(Arc<PostsPools>),
    Votes,
}

pub struct PostsPools {
    bodies: Vec<Arc<str>>,
    titles: Vec<Arc<str>>,
    tags: Vec<Arc<str>>,
}

/// splitmix64: a fast, well-mixed hash of the row number (deterministic across runs).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const WORDS: &[&str] = &[
    "query",
    "index",
    "table",
    "join",
    "select",
    "performance",
    "server",
    "value",
    "column",
    "error",
    "string",
    "données",
    "naïve",
    "Straße",
    "größer",
    "日本語",
    "テスト",
    "😀",
    "résumé",
    "function",
    "return",
    "null",
    "type",
    "convert",
    "date",
    "number",
    "Ünïcödé",
    "𝄞",
];

fn sentence(seed: u64, target_chars: usize) -> String {
    let mut s = String::with_capacity(target_chars + 16);
    let mut h = seed;
    let mut chars = 0;
    while chars < target_chars {
        h = mix(h);
        if !s.is_empty() {
            s.push(' ');
            chars += 1;
        }
        let w = WORDS[(h % WORDS.len() as u64) as usize];
        s.push_str(w);
        chars += w.chars().count();
    }
    s
}

impl Default for PostsPools {
    fn default() -> Self {
        Self::new()
    }
}

impl PostsPools {
    pub fn new() -> PostsPools {
        let bodies = (0..POOL as u64)
            .map(|i| {
                // 200..1800 characters, about 1 KB on average.
                let len = 200 + (mix(i ^ 0xB0D1) % 1600) as usize;
                Arc::from(format!("<p>{}</p>", sentence(i ^ 0xB0D1, len)))
            })
            .collect();
        let titles = (0..POOL as u64)
            .map(|i| {
                let t: String = sentence(i ^ 0x717E, 20 + (i as usize % 60))
                    .chars()
                    .take(250)
                    .collect();
                Arc::from(t)
            })
            .collect();
        let tags = (0..POOL as u64)
            .map(|i| {
                let h = mix(i ^ 0x7A65);
                let t = [
                    "sql-server",
                    "c#",
                    "java",
                    "postgresql",
                    "python",
                    "t-sql",
                    "linq",
                    "json",
                ];
                Arc::from(format!(
                    "<{}><{}>",
                    t[(h % 8) as usize],
                    t[((h >> 8) % 8) as usize]
                ))
            })
            .collect();
        PostsPools {
            bodies,
            titles,
            tags,
        }
    }
}

fn col(name: &str, sql_type: SqlType, nullable: bool) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        sql_type,
        nullable,
        identity: None,
        computed: None,
        persisted: false,
        default: None,
    }
}

fn nvarchar(len: Option<u16>) -> SqlType {
    SqlType::NVarChar {
        len,
        collation: Collation::SQL_LATIN1_GENERAL_CP1_CI_AS,
    }
}

/// One field of a generated row: a value, or an entry of a string pool.
enum Cell {
    Value(Value),
    /// Pool (0 bodies, 1 titles, 2 tags) and index.
    Pool(usize, usize),
}

/// Pre-encoded pool strings for one output column.
type Encoded = Vec<Vec<u8>>;

impl GenKind {
    pub fn table_name(&self) -> &'static str {
        match self {
            GenKind::Posts(_) => "Posts",
            GenKind::Votes => "Votes",
        }
    }

    pub fn columns(&self) -> Vec<ColumnInfo> {
        let mut id = col("Id", SqlType::Int, false);
        id.identity = Some((1, 1));
        match self {
            GenKind::Posts(_) => vec![
                id,
                col("PostTypeId", SqlType::Int, false),
                col("AcceptedAnswerId", SqlType::Int, true),
                col("ParentId", SqlType::Int, true),
                col("CreationDate", SqlType::DateTime, false),
                col("Score", SqlType::Int, false),
                col("ViewCount", SqlType::Int, false),
                col("Body", nvarchar(None), false),
                col("OwnerUserId", SqlType::Int, true),
                col("LastEditDate", SqlType::DateTime, true),
                col("Title", nvarchar(Some(250)), true),
                col("Tags", nvarchar(Some(150)), true),
                col("AnswerCount", SqlType::Int, true),
                col("CommentCount", SqlType::Int, false),
                col("LastActivityDate", SqlType::DateTime, false),
            ],
            GenKind::Votes => vec![
                id,
                col("PostId", SqlType::Int, false),
                col("UserId", SqlType::Int, true),
                col("BountyAmount", SqlType::Int, true),
                col("VoteTypeId", SqlType::Int, false),
                col("CreationDate", SqlType::DateTime, false),
            ],
        }
    }

    pub fn primary_key(&self, object_id: i32) -> KeyInfo {
        KeyInfo {
            name: format!("PK_{}__Id", self.table_name()),
            object_id,
            primary: true,
            clustered: true,
            columns: vec![(0, false)],
            index_id: 1,
            system_named: false,
        }
    }

    /// The fields of row `index` (0-based; Id = index + 1).
    fn cells(&self, index: u64) -> Vec<Cell> {
        let id = index + 1;
        let h = mix(id);
        // 2008-07-31, the first day of StackOverflow, plus about one day per 3000 posts.
        let base = days_from_civil(2008, 7, 31) - DAYS_TO_1900;
        let creation = Value::DateTime {
            days: (base + (id / 3000) as i64) as i32,
            ticks_300: (h % (300 * 86_400)) as u32,
        };
        let opt_int = |present: bool, v: u64| {
            Cell::Value(if present {
                Value::Int(v as i32)
            } else {
                Value::Null
            })
        };
        let int = |v: i64| Cell::Value(Value::Int(v as i32));
        match self {
            GenKind::Posts(_) => {
                let question = !h.is_multiple_of(3);
                let pick = |shift: u32| ((h >> shift) % POOL as u64) as usize;
                let edited = (h >> 7).is_multiple_of(4);
                vec![
                    int(id as i64),
                    int(if question { 1 } else { 2 }),
                    opt_int(
                        question && (h >> 3).is_multiple_of(2),
                        id + 1 + (h >> 20) % 50,
                    ),
                    opt_int(!question, id.saturating_sub(1 + (h >> 24) % 20).max(1)),
                    Cell::Value(creation.clone()),
                    int(((h >> 11) % 200) as i64 - 10),
                    int(((h >> 13) % 100_000) as i64),
                    Cell::Pool(0, pick(17)),
                    opt_int(!(h >> 5).is_multiple_of(10), 1 + (h >> 30) % 100_000),
                    Cell::Value(if edited {
                        Value::DateTime {
                            days: (base + (id / 3000) as i64 + 1 + ((h >> 40) % 300) as i64) as i32,
                            ticks_300: ((h >> 9) % (300 * 86_400)) as u32,
                        }
                    } else {
                        Value::Null
                    }),
                    if question {
                        Cell::Pool(1, pick(23))
                    } else {
                        Cell::Value(Value::Null)
                    },
                    if question {
                        Cell::Pool(2, pick(29))
                    } else {
                        Cell::Value(Value::Null)
                    },
                    opt_int(question, (h >> 35) % 6),
                    int(((h >> 37) % 12) as i64),
                    Cell::Value(creation),
                ]
            }
            GenKind::Votes => vec![
                int(id as i64),
                int(1 + ((h >> 8) % (id / 4 + 1)) as i64),
                opt_int(!(h >> 3).is_multiple_of(5), 1 + (h >> 20) % 100_000),
                opt_int((h >> 6).is_multiple_of(50), 50 * (1 + (h >> 33) % 10)),
                int(1 + ((h >> 12) % 15) as i64),
                Cell::Value(creation),
            ],
        }
    }

    fn pool(&self, which: usize) -> &[Arc<str>] {
        match self {
            GenKind::Posts(p) => match which {
                0 => &p.bodies,
                1 => &p.titles,
                _ => &p.tags,
            },
            GenKind::Votes => &[],
        }
    }

    /// Row `index` (0-based; Id = index + 1) as values.
    pub fn row(&self, index: u64) -> Vec<Value> {
        self.cells(index)
            .into_iter()
            .map(|c| match c {
                Cell::Value(v) => v,
                Cell::Pool(which, i) => Value::Str(self.pool(which)[i].clone()),
            })
            .collect()
    }

    /// Rows `from..to` (row numbers) as ROW/NBCROW tokens for the columns `cols` of the
    /// table, each optionally through a conversion that cannot fail (an expression over that
    /// column alone), described by `columns` (the result's metadata).
    pub fn encoded_rows(
        &self,
        outputs: &[(usize, Option<BExpr>)],
        columns: &[Column],
        from: u64,
        to: u64,
        reverse: bool,
    ) -> Box<dyn Iterator<Item = Arc<[u8]>> + Send> {
        let plans: Vec<ColumnPlan> = columns.iter().map(ColumnPlan::new).collect();
        let cols: Vec<usize> = outputs.iter().map(|(c, _)| *c).collect();
        let width = self.columns().len();
        // The output value of source value `v` in column `c` through its conversion, if any.
        let output = |k: usize, v: &Value| -> Value {
            match &outputs[k].1 {
                Some(conversion) => {
                    let mut row = vec![Value::Null; width];
                    row[outputs[k].0] = v.clone();
                    conversion.eval(&row).unwrap_or(Value::Null)
                }
                None => v.clone(),
            }
        };
        // Each output column that shows a pool string gets that pool pre-encoded.
        let probe = self.cells(0);
        let mut pools: Vec<Option<Encoded>> = Vec::with_capacity(cols.len());
        for (out, &c) in cols.iter().enumerate() {
            let which = match (self, probe.get(c)) {
                (GenKind::Posts(_), Some(Cell::Pool(w, _))) => Some(*w),
                // Title and Tags are NULL in row 1 when it is an answer: look at the column.
                (GenKind::Posts(_), _) if c == 10 => Some(1),
                (GenKind::Posts(_), _) if c == 11 => Some(2),
                _ => None,
            };
            pools.push(which.map(|w| {
                self.pool(w)
                    .iter()
                    .map(|s| {
                        let mut b = Vec::new();
                        // A value that does not fit encodes as nothing; the pools fit.
                        let _ = encode::value(
                            &mut b,
                            &plans[out],
                            &output(out, &Value::Str(s.clone())),
                        );
                        b
                    })
                    .collect()
            }));
        }
        let kind = self.clone();
        let conversions: Vec<Option<BExpr>> = outputs.iter().map(|(_, e)| e.clone()).collect();
        let bitmap_len = cols.len().div_ceil(8);
        let mut buf: Vec<u8> = Vec::with_capacity(256);
        let encode_row = move |i: u64| -> Arc<[u8]> {
            let cells = kind.cells(i);
            let is_null = |c: usize| matches!(cells.get(c), Some(Cell::Value(Value::Null)) | None);
            let saved: usize = cols
                .iter()
                .zip(&plans)
                .filter(|(c, _)| is_null(**c))
                .map(|(_, p)| p.null_len())
                .sum();
            buf.clear();
            let nbc = saved > bitmap_len;
            if nbc {
                buf.push(token::NBCROW);
                let at = buf.len();
                buf.resize(at + bitmap_len, 0);
                for (k, c) in cols.iter().enumerate() {
                    if is_null(*c) {
                        buf[at + k / 8] |= 1 << (k % 8);
                    }
                }
            } else {
                buf.push(token::ROW);
            }
            for (k, c) in cols.iter().enumerate() {
                if nbc && is_null(*c) {
                    continue;
                }
                match cells.get(*c) {
                    Some(Cell::Pool(_, idx)) => {
                        if let Some(Some(pool)) = pools.get(k) {
                            buf.extend_from_slice(&pool[*idx]);
                        }
                    }
                    Some(Cell::Value(v)) => {
                        // Generated values always fit their columns.
                        match &conversions[k] {
                            Some(conversion) => {
                                let mut row = vec![Value::Null; cells.len()];
                                row[*c] = v.clone();
                                let v = conversion.eval(&row).unwrap_or(Value::Null);
                                let _ = encode::value(&mut buf, &plans[k], &v);
                            }
                            None => {
                                let _ = encode::value(&mut buf, &plans[k], v);
                            }
                        }
                    }
                    None => {}
                }
            }
            Arc::from(&buf[..])
        };
        if reverse {
            Box::new((from..to).rev().map(encode_row))
        } else {
            Box::new((from..to).map(encode_row))
        }
    }
}

/// Parses `posts=N,votes=M` (either part optional).
pub fn parse_spec(spec: &str) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, n) = part
            .split_once('=')
            .ok_or_else(|| format!("bad generate spec part '{part}' (want name=rows)"))?;
        let name = name.trim().to_ascii_lowercase();
        if name != "posts" && name != "votes" {
            return Err(format!("unknown generated table '{name}' (posts, votes)"));
        }
        let n: u64 = n
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("bad row count in '{part}'"))?;
        // Ids are int, as in StackOverflow.
        if n > i32::MAX as u64 {
            return Err(format!("{name}: at most {} rows", i32::MAX));
        }
        out.push((name, n));
    }
    if out.is_empty() {
        return Err("empty generate spec (want posts=N,votes=M)".into());
    }
    Ok(out)
}
