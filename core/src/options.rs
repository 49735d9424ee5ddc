//! Options of the `pgmig` foreign-data wrapper's servers and user mappings: which exist, what
//! values they take, and the parsed connection settings. The validator calls [`validate`] at
//! `CREATE`/`ALTER` time, so a typo fails there rather than at the first pull.

use std::fmt;
use std::time::Duration;

/// Which catalog an option list belongs to (the validator's second argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionContext {
    Wrapper,
    Server,
    UserMapping,
    ForeignTable,
}

impl OptionContext {
    /// Every option valid in this context, in the order the error hint lists them.
    pub fn valid_options(self) -> &'static [&'static str] {
        match self {
            OptionContext::Server => SERVER_OPTIONS,
            OptionContext::UserMapping => USER_MAPPING_OPTIONS,
            OptionContext::Wrapper | OptionContext::ForeignTable => &[],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            OptionContext::Wrapper => "foreign-data wrapper",
            OptionContext::Server => "server",
            OptionContext::UserMapping => "user mapping",
            OptionContext::ForeignTable => "foreign table",
        }
    }
}

const SERVER_OPTIONS: &[&str] = &[
    "host",
    "port",
    "database",
    "encrypt",
    "trust_server_certificate",
    "application_name",
    "connect_timeout",
    "packet_size",
];
const USER_MAPPING_OPTIONS: &[&str] = &["user", "password"];

/// SQL Server's default TCP port.
pub const DEFAULT_PORT: u16 = 1433;
/// An hour: beyond that a connect is not "slow", it is broken.
const MAX_CONNECT_TIMEOUT_SECS: u64 = 3600;
/// SQL Server accepts network packet sizes from 512 to 32767 bytes (`sp_configure 'network packet size'`).
const PACKET_SIZE_RANGE: std::ops::RangeInclusive<u32> = 512..=32767;
/// LOGIN7 carries names of at most 128 characters (sysname).
const MAX_SYSNAME_CHARS: usize = 128;
/// A DNS name is at most 253 characters; anything longer is a mistake.
const MAX_HOST_CHARS: usize = 253;

/// TLS for the TDS connection. The names follow SQL Server's own drivers (`Encrypt=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// Only the login packet is encrypted (the password never crosses the network in clear);
    /// data travels in clear.
    Off,
    /// Everything after PRELOGIN is encrypted. The default: a careful DBA's choice.
    On,
    /// Like `On`, and the connection fails if the server declines encryption.
    Required,
    /// TDS 8.0: TLS before any TDS byte (SQL Server 2022+).
    Strict,
}

impl Encrypt {
    pub const NAMES: &'static str = "off, on, required, strict";

    pub fn parse(value: &str) -> Option<Encrypt> {
        match value.to_ascii_lowercase().as_str() {
            "off" => Some(Encrypt::Off),
            "on" => Some(Encrypt::On),
            "required" => Some(Encrypt::Required),
            "strict" => Some(Encrypt::Strict),
            _ => None,
        }
    }
}

/// A server's connection settings, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
    pub encrypt: Encrypt,
    pub trust_server_certificate: bool,
    pub application_name: Option<String>,
    /// `None`: the GUC `pgmig.connect_timeout` decides.
    pub connect_timeout: Option<Duration>,
    pub packet_size: Option<u32>,
}

/// A user mapping's login.
#[derive(Clone, PartialEq, Eq)]
pub struct UserMappingOptions {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for UserMappingOptions {
    // Never let a password reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserMappingOptions")
            .field("user", &self.user)
            .field("password", &"********")
            .finish()
    }
}

/// Why an option list was refused. Never carries a password's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionError {
    Unknown {
        name: String,
        context: OptionContext,
    },
    Malformed {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    Missing {
        name: &'static str,
        context: OptionContext,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::Unknown { name, context } => {
                write!(
                    f,
                    "invalid option \"{name}\" for a pgmig {}",
                    context.describe()
                )
            }
            OptionError::Malformed {
                name,
                value,
                expected,
            } => {
                write!(
                    f,
                    "invalid value for option \"{name}\": \"{value}\" ({expected})"
                )
            }
            OptionError::Missing { name, context } => {
                write!(
                    f,
                    "a pgmig {} needs the option \"{name}\"",
                    context.describe()
                )
            }
        }
    }
}

impl OptionError {
    /// The hint PostgreSQL's own wrappers give: what is valid here.
    pub fn hint(&self) -> String {
        match self {
            OptionError::Unknown { context, .. } | OptionError::Missing { context, .. } => {
                let valid = context.valid_options();
                if valid.is_empty() {
                    format!("A pgmig {} takes no options.", context.describe())
                } else {
                    format!("Valid options in this context are: {}.", valid.join(", "))
                }
            }
            OptionError::Malformed { name, expected, .. } => {
                format!("Option \"{name}\" takes {expected}.")
            }
        }
    }
}

/// Splits PostgreSQL's `name=value` option strings (the validator's text[]).
pub fn split_option(raw: &str) -> (&str, &str) {
    raw.split_once('=').unwrap_or((raw, ""))
}

/// Checks an option list for its context, as the validator sees it at `CREATE`/`ALTER` time
/// (PostgreSQL passes the complete list after an `ALTER`, so required options are checked too).
pub fn validate(context: OptionContext, options: &[(&str, &str)]) -> Result<(), OptionError> {
    match context {
        OptionContext::Server => ServerOptions::parse(options).map(|_| ()),
        OptionContext::UserMapping => UserMappingOptions::parse(options).map(|_| ()),
        OptionContext::Wrapper | OptionContext::ForeignTable => match options.first() {
            Some((name, _)) => Err(OptionError::Unknown {
                name: name.to_string(),
                context,
            }),
            None => Ok(()),
        },
    }
}

impl ServerOptions {
    pub fn parse(options: &[(&str, &str)]) -> Result<ServerOptions, OptionError> {
        let mut parsed = ServerOptions {
            host: String::new(),
            port: DEFAULT_PORT,
            database: None,
            encrypt: Encrypt::On,
            trust_server_certificate: false,
            application_name: None,
            connect_timeout: None,
            packet_size: None,
        };
        let mut host_given = false;
        for &(name, value) in options {
            match name {
                "host" => {
                    parsed.host = parse_host(value)?;
                    host_given = true;
                }
                "port" => {
                    parsed.port = match value.trim().parse::<u16>() {
                        Ok(port) if port > 0 => port,
                        _ => return Err(malformed("port", value, "an integer from 1 to 65535")),
                    }
                }
                "database" => parsed.database = Some(parse_sysname("database", value)?),
                "encrypt" => {
                    parsed.encrypt = Encrypt::parse(value.trim()).ok_or_else(|| {
                        malformed("encrypt", value, "one of off, on, required, strict")
                    })?
                }
                "trust_server_certificate" => {
                    parsed.trust_server_certificate = parse_bool(value)
                        .ok_or_else(|| malformed("trust_server_certificate", value, "a boolean"))?
                }
                "application_name" => {
                    parsed.application_name = Some(parse_sysname("application_name", value)?)
                }
                "connect_timeout" => {
                    parsed.connect_timeout = match value.trim().parse::<u64>() {
                        Ok(secs) if (1..=MAX_CONNECT_TIMEOUT_SECS).contains(&secs) => {
                            Some(Duration::from_secs(secs))
                        }
                        _ => {
                            return Err(malformed(
                                "connect_timeout",
                                value,
                                "a whole number of seconds from 1 to 3600",
                            ))
                        }
                    }
                }
                "packet_size" => {
                    parsed.packet_size = match value.trim().parse::<u32>() {
                        Ok(size) if PACKET_SIZE_RANGE.contains(&size) => Some(size),
                        _ => {
                            return Err(malformed(
                                "packet_size",
                                value,
                                "a number of bytes from 512 to 32767",
                            ))
                        }
                    }
                }
                other => {
                    return Err(OptionError::Unknown {
                        name: other.to_string(),
                        context: OptionContext::Server,
                    })
                }
            }
        }
        if !host_given {
            return Err(OptionError::Missing {
                name: "host",
                context: OptionContext::Server,
            });
        }
        Ok(parsed)
    }
}

impl UserMappingOptions {
    pub fn parse(options: &[(&str, &str)]) -> Result<UserMappingOptions, OptionError> {
        let mut user = None;
        let mut password = String::new();
        for &(name, value) in options {
            match name {
                "user" => user = Some(parse_sysname("user", value)?),
                // Any string is a valid SQL Server password, the empty one included.
                "password" => password = value.to_string(),
                other => {
                    return Err(OptionError::Unknown {
                        name: other.to_string(),
                        context: OptionContext::UserMapping,
                    })
                }
            }
        }
        match user {
            Some(user) => Ok(UserMappingOptions { user, password }),
            None => Err(OptionError::Missing {
                name: "user",
                context: OptionContext::UserMapping,
            }),
        }
    }
}

fn malformed(name: &'static str, value: &str, expected: &'static str) -> OptionError {
    OptionError::Malformed {
        name,
        value: value.to_string(),
        expected,
    }
}

fn parse_host(value: &str) -> Result<String, OptionError> {
    let host = value.trim();
    if host.is_empty() || host.chars().count() > MAX_HOST_CHARS {
        return Err(malformed("host", value, "a host name or IP address"));
    }
    if host.contains('\\') {
        // Named instances are found through the SQL Browser service (UDP 1434), which pgmig
        // does not query: the port must be given.
        return Err(malformed(
            "host",
            value,
            "a host name without an instance name; give the instance's TCP port in \"port\"",
        ));
    }
    if host.contains(',') || host.chars().any(|c| c.is_whitespace()) {
        return Err(malformed(
            "host",
            value,
            "a host name or IP address; give the port in \"port\", not after a comma",
        ));
    }
    Ok(host.to_string())
}

fn parse_sysname(name: &'static str, value: &str) -> Result<String, OptionError> {
    if value.is_empty() || value.chars().count() > MAX_SYSNAME_CHARS {
        return Err(malformed(name, value, "a name of 1 to 128 characters"));
    }
    Ok(value.to_string())
}

/// PostgreSQL's own boolean spellings (`parse_bool`).
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_defaults_are_secure() {
        let parsed = ServerOptions::parse(&[("host", "db.example.com")]).unwrap();
        assert_eq!(parsed.host, "db.example.com");
        assert_eq!(parsed.port, 1433);
        assert_eq!(parsed.encrypt, Encrypt::On);
        assert!(!parsed.trust_server_certificate);
        assert_eq!(parsed.connect_timeout, None);
        assert_eq!(parsed.packet_size, None);
    }

    #[test]
    fn server_all_options_parse() {
        let parsed = ServerOptions::parse(&[
            ("host", "10.0.0.5"),
            ("port", "14330"),
            ("database", "StackOverflow2010"),
            ("encrypt", "Required"),
            ("trust_server_certificate", "yes"),
            ("application_name", "nightly sync"),
            ("connect_timeout", "5"),
            ("packet_size", "32767"),
        ])
        .unwrap();
        assert_eq!(parsed.port, 14330);
        assert_eq!(parsed.database.as_deref(), Some("StackOverflow2010"));
        assert_eq!(parsed.encrypt, Encrypt::Required);
        assert!(parsed.trust_server_certificate);
        assert_eq!(parsed.application_name.as_deref(), Some("nightly sync"));
        assert_eq!(parsed.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(parsed.packet_size, Some(32767));
    }

    #[test]
    fn server_missing_host_is_refused() {
        let err = ServerOptions::parse(&[("port", "1433")]).unwrap_err();
        assert_eq!(
            err,
            OptionError::Missing {
                name: "host",
                context: OptionContext::Server
            }
        );
        assert!(err.hint().contains("host, port, database"));
    }

    #[test]
    fn unknown_option_lists_valid_ones() {
        let err = validate(OptionContext::Server, &[("host", "h"), ("hots", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid option \"hots\" for a pgmig server"
        );
        assert_eq!(
            err.hint(),
            "Valid options in this context are: host, port, database, encrypt, \
             trust_server_certificate, application_name, connect_timeout, packet_size."
        );
    }

    #[test]
    fn malformed_values_are_refused() {
        for (name, value) in [
            ("port", "0"),
            ("port", "65536"),
            ("port", "14x"),
            ("port", "-1"),
            ("connect_timeout", "0"),
            ("connect_timeout", "3601"),
            ("connect_timeout", "1.5"),
            ("packet_size", "511"),
            ("packet_size", "32768"),
            ("encrypt", "yes"),
            ("trust_server_certificate", "maybe"),
            ("host", ""),
            ("host", "srv\\SQLEXPRESS"),
            ("host", "srv,1433"),
            ("database", ""),
        ] {
            let opts = if name == "host" {
                vec![(name, value)]
            } else {
                vec![("host", "h"), (name, value)]
            };
            match ServerOptions::parse(&opts) {
                Err(OptionError::Malformed { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn user_mapping_needs_user_and_hides_password() {
        let parsed =
            UserMappingOptions::parse(&[("user", "loader"), ("password", "s3cr3t")]).unwrap();
        assert_eq!(parsed.user, "loader");
        assert_eq!(parsed.password, "s3cr3t");
        assert!(!format!("{parsed:?}").contains("s3cr3t"));
        let empty = UserMappingOptions::parse(&[("user", "sa"), ("password", "")]).unwrap();
        assert_eq!(empty.password, "");
        let err = UserMappingOptions::parse(&[("password", "s3cr3t")]).unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        assert_eq!(
            err,
            OptionError::Missing {
                name: "user",
                context: OptionContext::UserMapping
            }
        );
        let err = validate(
            OptionContext::UserMapping,
            &[("user", "u"), ("pasword", "x")],
        )
        .unwrap_err();
        assert_eq!(
            err.hint(),
            "Valid options in this context are: user, password."
        );
    }

    #[test]
    fn wrapper_takes_no_options() {
        assert!(validate(OptionContext::Wrapper, &[]).is_ok());
        let err = validate(OptionContext::Wrapper, &[("host", "h")]).unwrap_err();
        assert_eq!(err.hint(), "A pgmig foreign-data wrapper takes no options.");
        assert!(validate(OptionContext::ForeignTable, &[("x", "y")]).is_err());
    }

    #[test]
    fn split_option_keeps_equals_in_value() {
        assert_eq!(split_option("password=a=b"), ("password", "a=b"));
        assert_eq!(split_option("flag"), ("flag", ""));
    }
}
