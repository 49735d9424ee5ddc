//! TDS packets (MS-TDS 2.2.3): an 8-byte header (type, status, big-endian length, SPID,
//! packet id, window) and up to `packet size - 8` payload bytes. A message is one or more
//! packets of the same type, the last with the EOM status bit.

use std::io::{self, Read};

use super::ProtocolError;

pub const HEADER_LEN: usize = 8;
/// The largest packet size a client may negotiate (MS-TDS LOGIN7 PacketSize).
pub const MAX_PACKET_SIZE: usize = 32767;
/// The smallest one SQL Server accepts.
pub const MIN_PACKET_SIZE: usize = 512;
/// SQL Server's default `network packet size`, used before LOGIN7 negotiates another.
pub const DEFAULT_PACKET_SIZE: usize = 4096;
/// Upper bound on one request message; larger requests are refused instead of exhausting
/// memory (SQL Server's own batch limit is 65,536 * packet size, about 256 MB at 4 KB).
pub const MAX_MESSAGE_LEN: usize = 65536 * DEFAULT_PACKET_SIZE;

/// Packet types (MS-TDS 2.2.3.1.1).
pub mod kind {
    pub const SQL_BATCH: u8 = 0x01;
    pub const RPC: u8 = 0x03;
    pub const TABULAR_RESULT: u8 = 0x04;
    pub const ATTENTION: u8 = 0x06;
    pub const BULK_LOAD: u8 = 0x07;
    pub const FEDAUTH_TOKEN: u8 = 0x08;
    pub const TRANSACTION_MANAGER: u8 = 0x0E;
    pub const LOGIN7: u8 = 0x10;
    pub const SSPI: u8 = 0x11;
    pub const PRELOGIN: u8 = 0x12;
}

/// Status bits (MS-TDS 2.2.3.1.2).
pub mod status {
    pub const EOM: u8 = 0x01;
    pub const IGNORE: u8 = 0x02;
    pub const RESET_CONNECTION: u8 = 0x08;
    pub const RESET_CONNECTION_SKIP_TRAN: u8 = 0x10;
}

/// One request message from the client.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    /// Status of the first packet (carries RESETCONNECTION).
    pub status: u8,
    pub payload: Vec<u8>,
}

/// Reads one packet, appending its payload to `out`. `None` on a clean end of stream before
/// the header.
pub fn read_packet(
    r: &mut impl Read,
    max_packet: usize,
    out: &mut Vec<u8>,
) -> io::Result<Option<(u8, u8)>> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let length = u16::from_be_bytes([header[2], header[3]]) as usize;
    if length < HEADER_LEN || length > max_packet {
        return Err(ProtocolError(format!(
            "packet length {length} outside {HEADER_LEN}..={max_packet}"
        ))
        .into());
    }
    let start = out.len();
    out.resize(start + length - HEADER_LEN, 0);
    r.read_exact(&mut out[start..])?;
    Ok(Some((header[0], header[1])))
}

/// Reads packets up to the end of one message. `None` on a clean end of stream.
pub fn read_message(r: &mut impl Read, max_packet: usize) -> io::Result<Option<Message>> {
    loop {
        let mut payload = Vec::new();
        let Some((first_kind, first_status)) = read_packet(r, max_packet, &mut payload)? else {
            return Ok(None);
        };
        let mut last_status = first_status;
        while last_status & status::EOM == 0 {
            if payload.len() > MAX_MESSAGE_LEN {
                return Err(ProtocolError(format!(
                    "request message larger than {MAX_MESSAGE_LEN} bytes"
                ))
                .into());
            }
            match read_packet(r, max_packet, &mut payload)? {
                None => return Err(io::ErrorKind::UnexpectedEof.into()),
                Some((k, s)) if k == first_kind => last_status = s,
                Some((k, _)) => {
                    return Err(ProtocolError(format!(
                        "packet of type {k:#04x} inside a message of type {first_kind:#04x}"
                    ))
                    .into())
                }
            }
        }
        // The client marks a message it abandoned with IGNORE on the last packet: drop it.
        if last_status & status::IGNORE != 0 {
            continue;
        }
        return Ok(Some(Message {
            kind: first_kind,
            status: first_status,
            payload,
        }));
    }
}

/// Where the writer's finished packets go (the connection: faults, attention, transport).
pub trait PacketSink {
    /// `packet` is a complete packet, header included; `last` = it carries EOM.
    fn send_packet(&mut self, packet: &[u8], last: bool) -> io::Result<()>;
}

/// Builds outgoing messages in one reusable packet buffer: tokens are copied in, and each
/// time the buffer holds a full packet it goes to the sink. No allocation per packet.
pub struct PacketWriter {
    packet: Vec<u8>,
    packet_size: usize,
    packet_id: u8,
    spid: u16,
    kind: u8,
}

impl PacketWriter {
    pub fn new(packet_size: usize, spid: u16) -> PacketWriter {
        let mut packet = Vec::with_capacity(MAX_PACKET_SIZE);
        packet.resize(HEADER_LEN, 0);
        PacketWriter {
            packet,
            packet_size,
            packet_id: 1,
            spid,
            kind: kind::TABULAR_RESULT,
        }
    }

    pub fn packet_size(&self) -> usize {
        self.packet_size
    }

    /// Takes effect from the next message.
    pub fn set_packet_size(&mut self, size: usize) {
        self.packet_size = size.clamp(MIN_PACKET_SIZE, MAX_PACKET_SIZE);
    }

    /// Starts a message of `kind` (TABULAR_RESULT for every response; PRELOGIN carries the
    /// TLS handshake). Anything unsent from an abandoned message is discarded.
    pub fn begin(&mut self, kind: u8) {
        self.kind = kind;
        self.packet_id = 1;
        self.packet.truncate(HEADER_LEN);
    }

    /// Bytes in the current, unsent packet (header excluded).
    pub fn pending(&self) -> usize {
        self.packet.len() - HEADER_LEN
    }

    pub fn put(&mut self, sink: &mut dyn PacketSink, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = self.packet_size - self.packet.len();
            if room == 0 {
                self.flush(sink, false)?;
                continue;
            }
            let n = room.min(bytes.len());
            self.packet.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        // Leave a full packet in place: only the next byte (or `end`) decides whether it is
        // the last one.
        Ok(())
    }

    /// Sends the last packet of the message (EOM).
    pub fn end(&mut self, sink: &mut dyn PacketSink) -> io::Result<()> {
        self.flush(sink, true)?;
        self.packet_id = 1;
        Ok(())
    }

    /// Sends what is buffered as a non-final packet (before a fault cuts the connection,
    /// so the client really received the rows before the cut).
    pub fn flush_partial(&mut self, sink: &mut dyn PacketSink) -> io::Result<()> {
        if self.pending() > 0 {
            self.flush(sink, false)?;
        }
        Ok(())
    }

    fn flush(&mut self, sink: &mut dyn PacketSink, last: bool) -> io::Result<()> {
        let len = self.packet.len();
        self.packet[0] = self.kind;
        self.packet[1] = if last { status::EOM } else { 0 };
        // `len` <= MAX_PACKET_SIZE < 65536 by construction.
        self.packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        self.packet[4..6].copy_from_slice(&self.spid.to_be_bytes());
        self.packet[6] = self.packet_id;
        self.packet[7] = 0;
        self.packet_id = self.packet_id.wrapping_add(1);
        let result = sink.send_packet(&self.packet, last);
        self.packet.truncate(HEADER_LEN);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Vec<Vec<u8>>);
    impl PacketSink for Collect {
        fn send_packet(&mut self, packet: &[u8], _last: bool) -> io::Result<()> {
            self.0.push(packet.to_vec());
            Ok(())
        }
    }

    #[test]
    fn writer_splits_at_packet_size_and_marks_eom() {
        let mut w = PacketWriter::new(512, 55);
        let mut sink = Collect(Vec::new());
        w.begin(kind::TABULAR_RESULT);
        let body: Vec<u8> = (0..1200u32).map(|i| i as u8).collect();
        w.put(&mut sink, &body).unwrap();
        w.end(&mut sink).unwrap();
        assert_eq!(sink.0.len(), 3);
        assert_eq!(sink.0[0].len(), 512);
        assert_eq!(sink.0[0][1], 0);
        assert_eq!(&sink.0[0][2..8], &[0x02, 0x00, 0, 55, 1, 0]);
        assert_eq!(sink.0[2][1], status::EOM);
        assert_eq!(sink.0[2][6], 3);
        let joined: Vec<u8> = sink.0.iter().flat_map(|p| p[8..].to_vec()).collect();
        assert_eq!(joined, body);
        // Reading them back reassembles the message.
        let wire: Vec<u8> = sink.0.concat();
        let msg = read_message(&mut &wire[..], 512).unwrap().unwrap();
        assert_eq!(msg.payload, body);
    }

    #[test]
    fn exact_multiple_of_packet_size_still_ends_with_eom() {
        let mut w = PacketWriter::new(512, 1);
        let mut sink = Collect(Vec::new());
        w.begin(kind::TABULAR_RESULT);
        w.put(&mut sink, &[7u8; 504]).unwrap();
        w.end(&mut sink).unwrap();
        assert_eq!(sink.0.len(), 1);
        assert_eq!(sink.0[0][1], status::EOM);
    }

    #[test]
    fn oversized_packets_are_refused() {
        let mut wire = vec![0x01, 0x01, 0x10, 0x00, 0, 0, 1, 0];
        wire.resize(0x1000, 0);
        assert!(read_message(&mut &wire[..], 512).is_err());
    }
}
