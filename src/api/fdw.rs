//! The foreign-data wrapper's validator: checks server and user-mapping options at
//! CREATE/ALTER time, so a typo fails there and not at the first pull.

use super::or_report;
use pgmig_core::options::{split_option, validate, OptionContext};
use pgrx::prelude::*;

/// Called by PostgreSQL with the complete option list (`name=value` strings, or NULL when
/// there are none) and the catalog the options belong to.
#[pg_extern]
fn pgmig_fdw_validator(options: Option<Vec<Option<String>>>, catalog: pg_sys::Oid) {
    let context = match catalog {
        pg_sys::ForeignServerRelationId => OptionContext::Server,
        pg_sys::UserMappingRelationId => OptionContext::UserMapping,
        pg_sys::ForeignDataWrapperRelationId => OptionContext::Wrapper,
        _ => OptionContext::ForeignTable,
    };
    let raw: Vec<String> = options.unwrap_or_default().into_iter().flatten().collect();
    let pairs: Vec<(&str, &str)> = raw.iter().map(|option| split_option(option)).collect();
    or_report(validate(context, &pairs).map_err(Into::into))
}

extension_sql_file!(
    "../../sql/fdw.sql",
    name = "fdw",
    requires = [pgmig_fdw_validator]
);
