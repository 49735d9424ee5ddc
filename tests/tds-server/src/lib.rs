//! pgmig's TDS test server: a TDS 7.4 server on loopback that stands in for SQL Server in
//! pgmig's tests, demo and benchmarks. tiberius and FreeTDS talk to it as to SQL Server.
//!
//! - `wire`: the protocol (packets, PRELOGIN/TLS, LOGIN7, tokens, type encoding, RPC).
//! - `server`: listener, sessions, and the in-process API ([`Server`], [`RunningServer`]).
//! - `engine`: T-SQL parsing and execution over in-memory databases.
//! - `faults`: faults injected on command.
//! - `types`: the contract between `engine` and `wire`.

pub mod engine;
pub mod faults;
pub mod server;
pub mod types;
pub mod wire;

pub use faults::{Fault, Faults};
pub use server::{Backend, BackendSession, RunningServer, Server, ServerConfig, StartError};
