//! COLMETADATA (MS-TDS 2.2.7.4): the columns of a result set, read once into the compact
//! per-column description the row loop runs over. A column this decoder cannot read fails the
//! whole result set here, before any of its rows.

use encoding_rs::Encoding;

use super::cursor::{Cursor, Stop};
use super::types::{read_type_info, Action, Framing, TypeInfo, WireType};
use super::DecodeError;
use crate::copy_binary::NulPolicy;
use crate::plan::FieldEncoding;

/// The column count of a COLMETADATA that carries none (NoMetaData: the client asked the
/// server to leave it out, or the statement has no result columns).
const NO_METADATA: u16 = 0xFFFF;

/// One result column, as the row loop needs it.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub framing: Framing,
    /// For u16-length values: the longest a well-formed row carries.
    pub max_len: u16,
    pub wire: WireType,
    pub target: FieldEncoding,
    pub action: Action,
}

impl Column {
    /// The encoding of a char/varchar column's bytes.
    pub(crate) fn encoding(&self) -> Option<&'static Encoding> {
        match self.wire {
            WireType::Char { encoding, .. } => Some(encoding),
            _ => None,
        }
    }
}

/// Reads the COLMETADATA token at the start of `input` (its token byte at 0): the bytes it
/// takes and its columns, one per target in `targets`.
pub(crate) fn read_columns(
    input: &[u8],
    targets: &[FieldEncoding],
    nul: NulPolicy,
) -> Result<(usize, Vec<Column>), Stop> {
    let mut cur = Cursor::stream(input, 1);
    let count = match cur.u16()? {
        NO_METADATA => 0,
        count => usize::from(count),
    };
    if count != targets.len() {
        return Err(Stop::Fail(DecodeError::ColumnCount {
            received: count,
            expected: targets.len(),
        }));
    }
    let mut columns = Vec::with_capacity(count);
    for (index, &target) in targets.iter().enumerate() {
        let _user_type = cur.u32()?;
        let _flags = cur.u16()?;
        let (wire, framing, max_len) = match read_type_info(&mut cur)? {
            TypeInfo::Supported {
                wire,
                framing,
                max_len,
            } => (wire, framing, max_len),
            TypeInfo::Unsupported(what) => {
                let name = cur.b_varchar()?;
                return Err(Stop::Fail(DecodeError::Unsupported(format!(
                    "column {} (\"{name}\") is {what}, which this decoder does not read",
                    index + 1
                ))));
            }
            TypeInfo::Unknown(type_byte) => {
                return Err(Stop::Fail(DecodeError::Unsupported(format!(
                    "column {} has TDS type 0x{type_byte:02X}, which this decoder does not read",
                    index + 1
                ))));
            }
        };
        let name = cur.b_varchar()?;
        columns.push(Column {
            name,
            framing,
            max_len,
            wire,
            target,
            action: Action::new(wire, target, nul),
        });
    }
    Ok((cur.pos(), columns))
}
