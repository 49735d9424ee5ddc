//! From a server name to the connection settings, with the caller's rights: the server must
//! belong to the pgmig wrapper, the caller needs USAGE on it, and the user mapping is the
//! caller's own or PUBLIC's, exactly as for postgres_fdw.

use crate::error::{PgmigError, Result};
use crate::gucs;
use crate::tds::ConnectParams;
use pgmig_core::options::{ServerOptions, UserMappingOptions};
use pgrx::pg_sys;
use pgrx::PgList;
use std::ffi::{CStr, CString};
use std::time::Duration;

/// The wrapper's name, as created by sql/fdw.sql.
const WRAPPER_NAME: &str = "pgmig";
/// Shown in SQL Server's sys.dm_exec_sessions unless the server sets application_name.
const DEFAULT_APPLICATION_NAME: &str = "pgmig";

pub fn connect_params(server_name: &str) -> Result<ConnectParams> {
    let unknown = || PgmigError::UnknownServer {
        server: server_name.to_string(),
    };
    let name = CString::new(server_name).map_err(|_| unknown())?;
    // SAFETY: main thread; the returned structs are palloc'd in the current memory context
    // and read before it is reset.
    unsafe {
        let server = pg_sys::GetForeignServerByName(name.as_ptr(), true);
        if server.is_null() {
            return Err(unknown());
        }
        let server = &*server;
        let wrapper = &*pg_sys::GetForeignDataWrapper(server.fdwid);
        let wrapper_name = cstr(wrapper.fdwname);
        if wrapper_name != WRAPPER_NAME {
            return Err(PgmigError::NotPgmigServer {
                server: server_name.to_string(),
                wrapper: wrapper_name,
            });
        }
        let role = pg_sys::GetUserId();
        if !has_usage(server.serverid, role) {
            return Err(PgmigError::NoServerUsage {
                server: server_name.to_string(),
            });
        }
        if !has_user_mapping(role, server.serverid) {
            return Err(PgmigError::NoUserMapping {
                server: server_name.to_string(),
                role: cstr(pg_sys::GetUserNameFromId(role, true)),
            });
        }
        let mapping = &*pg_sys::GetUserMapping(role, server.serverid);
        let server_options = options(server.options);
        let mapping_options = options(mapping.options);
        let server = ServerOptions::parse(&borrowed(&server_options))?;
        let login = UserMappingOptions::parse(&borrowed(&mapping_options))?;
        let connect_timeout = server
            .connect_timeout
            .unwrap_or_else(|| Duration::from_secs(gucs::CONNECT_TIMEOUT_SECS.get().max(1) as u64));
        let application_name = server
            .application_name
            .clone()
            .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.into());
        Ok(ConnectParams {
            server,
            login,
            connect_timeout,
            application_name,
        })
    }
}

#[cfg(any(feature = "pg13", feature = "pg14", feature = "pg15"))]
unsafe fn has_usage(server: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    pg_sys::pg_foreign_server_aclcheck(server, role, pg_sys::ACL_USAGE as pg_sys::AclMode)
        == pg_sys::AclResult::ACLCHECK_OK
}

#[cfg(not(any(feature = "pg13", feature = "pg14", feature = "pg15")))]
unsafe fn has_usage(server: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    pg_sys::object_aclcheck(
        pg_sys::ForeignServerRelationId,
        server,
        role,
        pg_sys::ACL_USAGE as pg_sys::AclMode,
    ) == pg_sys::AclResult::ACLCHECK_OK
}

/// GetUserMapping raises its own error when there is none; look first so ours says what to do.
unsafe fn has_user_mapping(role: pg_sys::Oid, server: pg_sys::Oid) -> bool {
    let exists = |user: pg_sys::Oid| {
        pg_sys::SearchSysCacheExists(
            pg_sys::SysCacheIdentifier::USERMAPPINGUSERSERVER as _,
            pg_sys::Datum::from(user),
            pg_sys::Datum::from(server),
            pg_sys::Datum::from(0),
            pg_sys::Datum::from(0),
        )
    };
    exists(role) || exists(pg_sys::InvalidOid)
}

/// A List of DefElem as (name, value) pairs.
unsafe fn options(list: *mut pg_sys::List) -> Vec<(String, String)> {
    PgList::<pg_sys::DefElem>::from_pg(list)
        .iter_ptr()
        .map(|def| (cstr((*def).defname), cstr(pg_sys::defGetString(def))))
        .collect()
}

fn borrowed(options: &[(String, String)]) -> Vec<(&str, &str)> {
    options
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

unsafe fn cstr(ptr: *const std::ffi::c_char) -> String {
    if ptr.is_null() {
        String::new()
    } else {
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    }
}
