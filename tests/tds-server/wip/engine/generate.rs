//! Generated benchmark tables: a StackOverflow-like `dbo.Posts` and `dbo.Votes` whose rows are
//! computed from the row number (Id = row number + 1), so they cost no memory, are the same
//! bytes for the same N, and are already in clustered-key order.

use std::sync::Arc;

use super::convert::{days_from_civil, DAYS_TO_1900};
use super::storage::{ColumnInfo, KeyInfo};
use crate::types::{Collation, SqlType, Value};

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
    "query", "index", "table", "join", "select", "performance", "server", "value", "column",
    "error", "string", "données", "naïve", "Straße", "größer", "日本語", "テスト", "😀", "résumé",
    "function", "return", "null", "type", "convert", "date", "number", "Ünïcödé", "𝄞",
];

fn sentence(seed: u64, target_chars: usize) -> String {
    let mut s = String::with_capacity(target_chars + 16);
    let mut h = seed;
    while s.chars().count() < target_chars {
        h = mix(h);
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(WORDS[(h % WORDS.len() as u64) as usize]);
    }
    s
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
            .map(|i| Arc::from(sentence(i ^ 0x717E, 20 + (i as usize % 60)).chars().take(250).collect::<String>()))
            .collect();
        let tags = (0..POOL as u64)
            .map(|i| {
                let h = mix(i ^ 0x7A65);
                let t = ["sql-server", "c#", "java", "postgresql", "python", "t-sql", "linq", "json"];
                Arc::from(format!(
                    "<{}><{}>",
                    t[(h % 8) as usize],
                    t[((h >> 8) % 8) as usize]
                ))
            })
            .collect();
        PostsPools { bodies, titles, tags }
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

    /// Row `index` (0-based; Id = index + 1).
    pub fn row(&self, index: u64) -> Vec<Value> {
        let id = index + 1;
        let h = mix(id);
        // 2008-07-31, the first day of StackOverflow, plus about one day per 3000 posts.
        let base = days_from_civil(2008, 7, 31) - DAYS_TO_1900;
        let creation = Value::DateTime {
            days: (base + (id / 3000) as i64) as i32,
            ticks_300: (h % (300 * 86_400)) as u32,
        };
        let opt_int = |present: bool, v: u64| if present { Value::Int(v as i32) } else { Value::Null };
        match self {
            GenKind::Posts(pools) => {
                let question = h % 3 != 0;
                let pick = |shift: u32| ((h >> shift) % POOL as u64) as usize;
                let edited = (h >> 7) % 4 == 0;
                vec![
                    Value::Int(id as i32),
                    Value::Int(if question { 1 } else { 2 }),
                    opt_int(question && (h >> 3) % 2 == 0, id + 1 + (h >> 20) % 50),
                    opt_int(!question, id.saturating_sub(1 + (h >> 24) % 20).max(1)),
                    creation.clone(),
                    Value::Int(((h >> 11) % 200) as i32 - 10),
                    Value::Int(((h >> 13) % 100_000) as i32),
                    Value::Str(pools.bodies[pick(17)].clone()),
                    opt_int((h >> 5) % 10 != 0, 1 + (h >> 30) % 100_000),
                    if edited {
                        Value::DateTime {
                            days: (base + (id / 3000) as i64 + 1 + ((h >> 40) % 300) as i64) as i32,
                            ticks_300: ((h >> 9) % (300 * 86_400)) as u32,
                        }
                    } else {
                        Value::Null
                    },
                    if question {
                        Value::Str(pools.titles[pick(23)].clone())
                    } else {
                        Value::Null
                    },
                    if question {
                        Value::Str(pools.tags[pick(29)].clone())
                    } else {
                        Value::Null
                    },
                    opt_int(question, (h >> 35) % 6),
                    Value::Int(((h >> 37) % 12) as i32),
                    creation,
                ]
            }
            GenKind::Votes => vec![
                Value::Int(id as i32),
                Value::Int(1 + ((h >> 8) % (id / 4 + 1)) as i32),
                opt_int((h >> 3) % 5 != 0, 1 + (h >> 20) % 100_000),
                opt_int((h >> 6) % 50 == 0, 50 * (1 + (h >> 33) % 10)),
                Value::Int(1 + ((h >> 12) % 15) as i32),
                creation,
            ],
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
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_sized() {
        let pools = Arc::new(PostsPools::new());
        let k = GenKind::Posts(pools.clone());
        let k2 = GenKind::Posts(Arc::new(PostsPools::new()));
        assert_eq!(k.row(41), k2.row(41));
        assert_eq!(k.row(0)[0], Value::Int(1));
        let total: usize = pools.bodies.iter().map(|b| b.chars().count()).sum();
        let avg = total / pools.bodies.len();
        assert!((700..1400).contains(&avg), "average body {avg} chars");
        assert!(pools.bodies.iter().any(|b| b.chars().any(|c| c as u32 > 0xFFFF)));
        assert_eq!(GenKind::Votes.row(9).len(), GenKind::Votes.columns().len());
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(parse_spec("posts=10, votes=1_000").unwrap(), vec![("posts".into(), 10), ("votes".into(), 1000)]);
        assert!(parse_spec("users=1").is_err());
        assert!(parse_spec("posts").is_err());
    }
}
