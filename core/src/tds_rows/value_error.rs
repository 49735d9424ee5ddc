//! Why one value could not be written into its COPY field. Shared by both row readers (this
//! decoder and the tiberius-based one), so a failing value reads the same whichever ran.

use std::fmt;

use crate::copy_binary::EncodeError;
use crate::plan::FieldEncoding;

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// The encoder refused it (NUL in a string, over 1 GB, out of PostgreSQL's range...).
    Encode(EncodeError),
    /// The value does not fit the target column (an existing narrower column).
    OutOfRange { value: String, target: &'static str },
    /// SQL Server sent a type the plan did not expect for this column.
    Unexpected {
        received: &'static str,
        target: FieldEncoding,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Encode(error) => write!(f, "{error}"),
            ValueError::OutOfRange { value, target } => {
                write!(f, "value {value} is out of range for type {target}")
            }
            ValueError::Unexpected { received, target } => write!(
                f,
                "SQL Server sent a {received} value for a column pgmig writes as {target:?}"
            ),
        }
    }
}

impl From<EncodeError> for ValueError {
    fn from(error: EncodeError) -> Self {
        ValueError::Encode(error)
    }
}
