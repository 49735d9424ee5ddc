//! The client's side of TDS framing and login (MS-TDS 2.2.3, 2.2.6): packet headers, the
//! PRELOGIN and LOGIN7 messages, and the SQL batch request. Pure byte building and parsing;
//! the network thread (`src/tds/native`) moves these bytes over TCP/TLS, and
//! [`crate::tds_rows`] decodes the token streams the server answers with.

pub mod login7;
pub mod prelogin;

/// Every TDS packet starts with this 8-byte header.
pub const HEADER_LEN: usize = 8;
/// The largest packet TDS allows (SQL Server's `network packet size` maximum).
pub const MAX_PACKET_SIZE: usize = 32767;
/// The packet size every connection starts with, until LOGIN7 negotiates another.
pub const INITIAL_PACKET_SIZE: usize = 4096;

/// Packet types (MS-TDS 2.2.3.1.1).
pub mod packet_type {
    pub const SQL_BATCH: u8 = 0x01;
    pub const TABULAR_RESULT: u8 = 0x04;
    pub const ATTENTION: u8 = 0x06;
    pub const LOGIN7: u8 = 0x10;
    pub const PRELOGIN: u8 = 0x12;
}

/// Status bit: the last packet of a message.
pub const STATUS_END_OF_MESSAGE: u8 = 0x01;

/// A parsed packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    pub packet_type: u8,
    pub status: u8,
    /// The whole packet's length, header included.
    pub length: usize,
}

impl PacketHeader {
    /// Reads the header at the start of `bytes` (at least [`HEADER_LEN`] long). A length below
    /// the header's own, or above `max_packet`, is a broken stream.
    pub fn parse(bytes: &[u8], max_packet: usize) -> Result<PacketHeader, String> {
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err("a packet header needs 8 bytes".into());
        };
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if length < HEADER_LEN || length > max_packet {
            return Err(format!(
                "packet length {length} is outside 8..={max_packet}"
            ));
        }
        Ok(PacketHeader {
            packet_type: header[0],
            status: header[1],
            length,
        })
    }

    pub fn is_last(&self) -> bool {
        self.status & STATUS_END_OF_MESSAGE != 0
    }

    pub fn payload_len(&self) -> usize {
        self.length - HEADER_LEN
    }
}

/// Appends `payload` to `out` as one message of `packet_type`, cut into packets of at most
/// `packet_size` bytes. `packet_id` numbers the packets (it wraps at 256, as TDS says).
pub fn frame_message(
    out: &mut Vec<u8>,
    packet_type: u8,
    payload: &[u8],
    packet_size: usize,
    packet_id: &mut u8,
) {
    let room = packet_size.clamp(HEADER_LEN + 1, MAX_PACKET_SIZE) - HEADER_LEN;
    let mut chunks = payload.chunks(room).peekable();
    // An empty message is still one (empty) packet.
    let empty: &[u8] = &[];
    if chunks.peek().is_none() {
        write_packet(out, packet_type, STATUS_END_OF_MESSAGE, empty, packet_id);
        return;
    }
    while let Some(chunk) = chunks.next() {
        let status = if chunks.peek().is_none() {
            STATUS_END_OF_MESSAGE
        } else {
            0
        };
        write_packet(out, packet_type, status, chunk, packet_id);
    }
}

fn write_packet(out: &mut Vec<u8>, packet_type: u8, status: u8, chunk: &[u8], id: &mut u8) {
    // `chunk` is at most MAX_PACKET_SIZE - HEADER_LEN long, so the length fits in u16.
    let length = (chunk.len() + HEADER_LEN) as u16;
    out.push(packet_type);
    out.push(status);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // SPID: the server's to fill in.
    out.push(*id);
    out.push(0); // Window: unused.
    *id = id.wrapping_add(1);
    out.extend_from_slice(chunk);
}

/// The payload of a SQL batch request (MS-TDS 2.2.6.7): ALL_HEADERS with the transaction
/// descriptor header (auto-commit: descriptor 0, one outstanding request), then the text as
/// UTF-16LE. TDS 7.2+ requires the header.
pub fn sql_batch_payload(sql: &str) -> Vec<u8> {
    /// Transaction descriptor header: u32 length, u16 type 2, u64 descriptor, u32 count.
    const TRANSACTION_HEADER_LEN: u32 = 18;
    const TRANSACTION_DESCRIPTOR_TYPE: u16 = 2;
    let mut out = Vec::with_capacity(22 + sql.len() * 2);
    out.extend_from_slice(&(TRANSACTION_HEADER_LEN + 4).to_le_bytes());
    out.extend_from_slice(&TRANSACTION_HEADER_LEN.to_le_bytes());
    out.extend_from_slice(&TRANSACTION_DESCRIPTOR_TYPE.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    put_utf16(&mut out, sql);
    out
}

/// Appends `text` as UTF-16LE.
pub(crate) fn put_utf16(out: &mut Vec<u8>, text: &str) {
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_into_numbered_packets_with_the_last_marked() {
        let mut out = Vec::new();
        let mut id = 255;
        frame_message(&mut out, packet_type::SQL_BATCH, &[7u8; 10], 12, &mut id);
        // 4 payload bytes per packet: 4 + 4 + 2.
        assert_eq!(out.len(), 3 * HEADER_LEN + 10);
        let first = PacketHeader::parse(&out, 12).unwrap();
        assert_eq!(first.packet_type, packet_type::SQL_BATCH);
        assert_eq!((first.length, first.is_last()), (12, false));
        assert_eq!(out[6], 255, "ids start where the connection is");
        let third = PacketHeader::parse(&out[24..], 12).unwrap();
        assert_eq!((third.length, third.is_last()), (10, true));
        assert_eq!(out[24 + 6], 1, "ids wrap at 256");
        assert_eq!(id, 2);

        let mut empty = Vec::new();
        frame_message(&mut empty, packet_type::ATTENTION, &[], 4096, &mut id);
        assert_eq!(empty, [6, 1, 0, 8, 0, 0, 2, 0]);
    }

    #[test]
    fn packet_headers_outside_the_allowed_lengths_are_refused() {
        assert!(PacketHeader::parse(&[4, 1, 0, 7, 0, 0, 0, 0], 4096).is_err());
        assert!(PacketHeader::parse(&[4, 1, 0x10, 1, 0, 0, 0, 0], 4096).is_err());
        assert!(PacketHeader::parse(&[4, 1, 0, 8], 4096).is_err());
        let header = PacketHeader::parse(&[4, 1, 0x10, 0, 0, 0, 0, 0], 4096).unwrap();
        assert_eq!(header.payload_len(), 4096 - 8);
    }

    #[test]
    fn a_batch_carries_the_transaction_header_then_utf16_text() {
        let payload = sql_batch_payload("SELECT 1é");
        assert_eq!(&payload[..4], &22u32.to_le_bytes());
        assert_eq!(&payload[4..8], &18u32.to_le_bytes());
        assert_eq!(&payload[8..10], &2u16.to_le_bytes());
        assert_eq!(&payload[10..18], &[0; 8]);
        assert_eq!(&payload[18..22], &1u32.to_le_bytes());
        let text: Vec<u16> = payload[22..]
            .chunks(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        assert_eq!(String::from_utf16(&text).unwrap(), "SELECT 1é");
    }
}
