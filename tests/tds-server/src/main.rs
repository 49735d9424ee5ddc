//! `pgmig-tds-server`: runs the TDS test server until SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use pgmig_tds_server::{Server, ServerConfig};

const USAGE: &str = "\
pgmig-tds-server: a TDS 7.4 server that stands in for SQL Server in pgmig's tests

USAGE:
    pgmig-tds-server --listen ADDR --user NAME --password PW [OPTIONS]

OPTIONS:
    --listen ADDR          address to listen on, e.g. 127.0.0.1:1433 (port 0 = any free port)
    --user NAME            the SQL login the server accepts
    --password PW          its password
    --seed FILE            T-SQL script run at start (batches separated by GO lines)
    --generate SPEC        generated benchmark tables, e.g. posts=1000000,votes=5000000
    --force-encryption     require TLS (like SQL Server's Force Encryption setting)
    --ready-file PATH      write the listening address to PATH once ready
    -h, --help             print this help

Prints `listening on ADDR` on stdout once ready; exits cleanly on SIGTERM or SIGINT.
Faults can be switched by SQL: EXEC pgmig_test.inject @fault = 'drop_after_rows', @value = 1000
(and @fault = 'clear'). PGMIG_TDS_TRACE=1 prints every batch and RPC received on stderr.
";

struct Args {
    config: ServerConfig,
    seed_file: Option<String>,
    ready_file: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut config = ServerConfig::default();
    let mut seed_file = None;
    let mut ready_file = None;
    let (mut have_listen, mut have_user, mut have_password) = (false, false, false);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                config.listen = v
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("--listen {v}: {e}"))?;
                have_listen = true;
            }
            "--user" => {
                config.user = value("--user")?;
                have_user = true;
            }
            "--password" => {
                config.password = value("--password")?;
                have_password = true;
            }
            "--seed" => seed_file = Some(value("--seed")?),
            "--generate" => config.generate = Some(value("--generate")?),
            "--force-encryption" => config.force_encryption = true,
            "--ready-file" => ready_file = Some(value("--ready-file")?),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    for (given, flag) in [
        (have_listen, "--listen"),
        (have_user, "--user"),
        (have_password, "--password"),
    ] {
        if !given {
            return Err(format!("{flag} is required"));
        }
    }
    Ok(Some(Args {
        config,
        seed_file,
        ready_file,
    }))
}

/// Blocks SIGINT and SIGTERM in every thread (threads inherit the mask) so that
/// `sigwait` in the main thread receives them.
fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on a stack-allocated, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_termination(set: &libc::sigset_t) -> i32 {
    let mut signal = 0;
    // SAFETY: `set` is an initialised signal set and `signal` a valid out pointer.
    unsafe {
        libc::sigwait(set, &mut signal);
    }
    signal
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("pgmig-tds-server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = args.config;
    if let Some(path) = &args.seed_file {
        match std::fs::read_to_string(path) {
            Ok(sql) => config.seed_sql = Some(sql),
            Err(e) => {
                eprintln!("pgmig-tds-server: cannot read --seed {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let signals = block_termination_signals();
    let mut server = match Server::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pgmig-tds-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.addr();
    if let Some(path) = &args.ready_file {
        if let Err(e) = std::fs::write(path, format!("{addr}\n")) {
            eprintln!("pgmig-tds-server: cannot write --ready-file {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
    let signal = wait_for_termination(&signals);
    eprintln!("pgmig-tds-server: signal {signal}, shutting down");
    server.shutdown();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn required_flags_and_values() {
        assert!(args(&["--listen", "127.0.0.1:0", "--user", "u"]).is_err());
        assert!(args(&["--listen"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--help"]).unwrap().is_none());
        let a = args(&[
            "--listen",
            "127.0.0.1:1433",
            "--user",
            "u",
            "--password",
            "p",
            "--force-encryption",
            "--generate",
            "posts=5",
        ])
        .unwrap()
        .unwrap();
        assert!(a.config.force_encryption);
        assert_eq!(a.config.listen.port(), 1433);
        assert_eq!(a.config.generate.as_deref(), Some("posts=5"));
    }
}
