//! Every `pgmig.*` setting, registered once at load time.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// `pgmig.connect_timeout`: seconds a connect + login may take when the server sets none.
pub static CONNECT_TIMEOUT_SECS: GucSetting<i32> = GucSetting::<i32>::new(15);

pub fn init() {
    GucRegistry::define_int_guc(
        c"pgmig.connect_timeout",
        c"Seconds a connection to SQL Server (TCP, TLS and login) may take.",
        c"Used when the server has no connect_timeout option. Cancel and statement_timeout \
          stop a connect sooner.",
        &CONNECT_TIMEOUT_SECS,
        1,
        3600,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
}
