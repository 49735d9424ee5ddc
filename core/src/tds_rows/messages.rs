//! ERROR and INFO (MS-TDS 2.2.7.10, 2.2.7.14): what the server says about the batch, read in
//! full so the caller can report it as SQL Server wrote it.

use super::cursor::{Cursor, Stop};
use super::tokens::u16_body;
use super::{MessageKind, ServerMessage, Token};

/// ERROR or INFO: number, state, class, message text, server name, procedure name, line.
pub(crate) fn message(input: &[u8], kind: MessageKind) -> Result<(usize, Token), Stop> {
    let (body, consumed) = u16_body(input)?;
    let mut cur = Cursor::body(
        body,
        match kind {
            MessageKind::Error => "ERROR",
            MessageKind::Info => "INFO",
        },
    );
    let number = cur.u32()?;
    let state = cur.u8()?;
    let class = cur.u8()?;
    let message = cur.us_varchar()?;
    let server = cur.b_varchar()?;
    let procedure = cur.b_varchar()?;
    let line = cur.u32()?;
    Ok((
        consumed,
        Token::Message(ServerMessage {
            kind,
            number,
            state,
            class,
            message,
            server,
            procedure,
            line,
        }),
    ))
}
