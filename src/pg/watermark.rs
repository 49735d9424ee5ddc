//! Incremental sync on the backend: the watermark a pull starts after, read from and stored in
//! `pgmig.watermarks` (sql/watermarks.sql) as the calling role, in the pull's own transaction.
//! What to move is decided by `pgmig_core::watermark`.

use super::pull::{spi_error, TargetName};
use crate::error::{PgmigError, Result};
use pgmig_core::plan::find_column;
use pgmig_core::typemap::SourceColumn;
use pgmig_core::watermark::{StoredWatermark, WatermarkColumn, WatermarkValue};
use pgrx::prelude::*;

/// The watermark column `name` of the described source, checked.
pub fn watermark_column(source: &[SourceColumn], name: &str) -> Result<WatermarkColumn> {
    let position = find_column(source, name).ok_or_else(|| PgmigError::UnknownWatermarkColumn {
        name: name.to_string(),
        available: source.iter().map(|c| c.name.clone()).collect(),
    })?;
    WatermarkColumn::for_column(&source[position]).map_err(PgmigError::WatermarkType)
}

/// Where (server, source, target) stands: what the previous successful run stored.
pub fn stored(server: &str, source: &str, relid: pg_sys::Oid) -> Result<Option<StoredWatermark>> {
    Spi::connect(|client| {
        let row = client
            .select(
                "SELECT * FROM pgmig.watermark_get($1, $2, $3::pg_catalog.regclass)",
                None,
                &[server.into(), source.into(), relid.into()],
            )?
            .first();
        if row.is_empty() {
            return Ok(None);
        }
        Ok(Some(StoredWatermark {
            column: row.get::<String>(1)?.unwrap_or_default(),
            sql_type: row.get::<String>(2)?.unwrap_or_default(),
            filter: row.get::<String>(3)?,
            columns: row.get::<String>(6)?,
            value: row.get::<String>(4)?.unwrap_or_default(),
            target_relid: row
                .get::<pg_sys::Oid>(5)?
                .map(|oid| oid.to_u32())
                .unwrap_or(0),
        }))
    })
    .map_err(spi_error)
}

/// What a run stores, to take effect when its transaction commits.
pub struct NextWatermark<'a> {
    pub server: &'a str,
    pub source: &'a str,
    pub target: &'a TargetName,
    pub relid: pg_sys::Oid,
    pub column: &'a WatermarkColumn,
    pub filter: Option<&'a str>,
    /// `pgmig_core::watermark::columns_key` of the columns read.
    pub columns: &'a str,
    pub value: &'a WatermarkValue,
    pub run_id: i64,
}

pub fn store(next: &NextWatermark<'_>) -> Result<()> {
    Spi::connect_mut(|client| {
        client.update(
            "SELECT pgmig.watermark_set($1, $2, $3::pg_catalog.regclass, $4, $5, $6, $7, $8, $9)",
            None,
            &[
                next.server.into(),
                next.source.into(),
                next.relid.into(),
                next.column.name.as_str().into(),
                next.column.sql_type.as_str().into(),
                next.filter.into(),
                next.value.text.as_str().into(),
                next.run_id.into(),
                next.columns.into(),
            ],
        )?;
        Ok::<_, pgrx::spi::Error>(())
    })
    .map_err(|error| {
        PgmigError::Internal(format!(
            "could not store the watermark of {}: {error}",
            next.target.display()
        ))
    })
}
