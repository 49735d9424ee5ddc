//! The `pgmig-tds-server` binary: prints `listening on ADDR`, accepts logins, exits
//! cleanly on SIGTERM.

mod wire_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use tiberius::EncryptionLevel;
use wire_support::*;

#[test]
fn wire_binary_help_lists_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_pgmig-tds-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--seed",
        "--user",
        "--password",
        "--generate",
        "--force-encryption",
        "--ready-file",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn wire_binary_serves_and_stops_on_sigterm() {
    let ready = std::env::temp_dir().join(format!("pgmig-tds-ready-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgmig-tds-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--user",
            USER,
            "--password",
            PASSWORD,
        ])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap().trim(),
        addr.to_string()
    );
    runtime().block_on(async {
        let client = connect_with(config(addr, EncryptionLevel::Required, PASSWORD)).await;
        assert!(client.is_ok(), "{:?}", client.err());
        let Err(err) = connect_with(config(addr, EncryptionLevel::Off, "bad")).await else {
            panic!("a bad password must fail")
        };
        assert_eq!(err.code(), Some(18456));
    });
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_file(ready);
}
