//! pgmig's pure logic. This crate never imports pgrx: everything here is tested with plain
//! `#[test]`s, without PostgreSQL.

pub mod compare;
pub mod copy_binary;
pub mod copy_rows;
pub mod ident;
pub mod mask;
pub mod numeric;
pub mod options;
pub mod plan;
pub mod sqlgen;
pub mod sync_lock;
pub mod tds_rows;
pub mod tds_wire;
pub mod temporal;
pub mod text;
pub mod typemap;
pub mod watermark;
