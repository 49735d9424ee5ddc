//! pgmig's pure logic. This crate never imports pgrx: everything here is tested with plain
//! `#[test]`s, without PostgreSQL.

pub mod mask;
pub mod options;
