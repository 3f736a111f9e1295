//! The server name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3), its handshake
//! message read across as many records as it was split into.
//!
//! Each record must be a handshake record (content type 22) of version 3.x with 1 to
//! 2^14 bytes; the first handshake message must be a ClientHello whose fields and
//! extensions fit in it. The decision comes at the end of the `server_name` extension
//! (its first `host_name`), or at the end of the extensions when it has none: the rest
//! of the hello is not read.

use crate::name::NameBuilder;
use crate::{ran_out, Decision, Refusal, Stop, Verdict};

/// Content type of a handshake record.
const HANDSHAKE: u8 = 22;
/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// The `server_name` extension.
const SERVER_NAME: u16 = 0;
/// `NameType.host_name`.
const HOST_NAME: u8 = 0;
/// The largest record payload (RFC 8446 5.1).
const MAX_RECORD: usize = 1 << 14;

/// The decision for the ClientHello that starts `data`, reading at most `limit` bytes.
pub fn parse(data: &[u8], limit: usize) -> Verdict<'_> {
    let mut r = Records {
        data: &data[..data.len().min(limit)],
        limit,
        pos: 0,
        left: 0,
    };
    match client_hello(&mut r) {
        Ok(sni) => Verdict::Decided(Decision::Tls { sni }),
        Err(stop) => stop.verdict(),
    }
}

/// The handshake bytes of consecutive records, read in order.
struct Records<'a> {
    data: &'a [u8],
    limit: usize,
    /// The next byte to read (a record header when `left` is 0).
    pos: usize,
    /// Payload bytes left in the current record.
    left: usize,
}

impl Records<'_> {
    /// The byte at `pos`, or why there is none.
    fn at(&self, pos: usize) -> Result<u8, Stop> {
        self.data
            .get(pos)
            .copied()
            .ok_or_else(|| ran_out(self.data, self.limit))
    }

    /// Step over the next record's header when the current record is used up.
    fn next_record(&mut self) -> Result<(), Stop> {
        if self.left > 0 {
            return Ok(());
        }
        let not_tls = Stop::Refused(Refusal::NotTls);
        // Each header byte is checked as soon as it is there.
        if self.at(self.pos)? != HANDSHAKE
            || self.at(self.pos + 1)? != 3
            || self.at(self.pos + 2)? > 4
        {
            return Err(not_tls);
        }
        let len = usize::from(u16::from_be_bytes([
            self.at(self.pos + 3)?,
            self.at(self.pos + 4)?,
        ]));
        if len == 0 || len > MAX_RECORD {
            return Err(not_tls);
        }
        self.pos += 5;
        self.left = len;
        Ok(())
    }

    /// The next handshake byte, stepping over a record header.
    fn byte(&mut self) -> Result<u8, Stop> {
        self.next_record()?;
        let b = self.at(self.pos)?;
        self.pos += 1;
        self.left -= 1;
        Ok(b)
    }

    /// Step over `n` handshake bytes (a record's worth at a time).
    fn skip(&mut self, mut n: usize) -> Result<(), Stop> {
        while n > 0 {
            self.next_record()?;
            let take = n.min(self.left);
            if self.pos + take > self.data.len() {
                return Err(ran_out(self.data, self.limit));
            }
            self.pos += take;
            self.left -= take;
            n -= take;
        }
        Ok(())
    }
}

/// A bounded read of the hello: every field must end within the length it is part of.
struct Bounded<'r, 'a> {
    r: &'r mut Records<'a>,
    /// Bytes left in the enclosing length.
    left: usize,
}

impl Bounded<'_, '_> {
    fn u8(&mut self) -> Result<u8, Stop> {
        if self.left == 0 {
            return Err(Stop::Refused(Refusal::BadHello));
        }
        self.left -= 1;
        self.r.byte()
    }

    fn u16(&mut self) -> Result<u16, Stop> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        if n > self.left {
            return Err(Stop::Refused(Refusal::BadHello));
        }
        self.left -= n;
        self.r.skip(n)
    }

    /// A length-prefixed field's length, refused unless it fits what is left.
    fn len16(&mut self) -> Result<usize, Stop> {
        let n = usize::from(self.u16()?);
        if n > self.left {
            return Err(Stop::Refused(Refusal::BadHello));
        }
        Ok(n)
    }
}

fn client_hello(r: &mut Records<'_>) -> Result<Option<crate::Name>, Stop> {
    let bad = Stop::Refused(Refusal::BadHello);
    if r.byte()? != CLIENT_HELLO {
        return Err(bad);
    }
    let len = u32::from_be_bytes([0, r.byte()?, r.byte()?, r.byte()?]) as usize;
    let mut h = Bounded { r, left: len };
    if h.u8()? != 3 {
        return Err(bad);
    }
    h.skip(1 + 32)?; // minor version, random
    let session_id = usize::from(h.u8()?);
    if session_id > 32 {
        return Err(bad);
    }
    h.skip(session_id)?;
    let suites = h.len16()?;
    if suites < 2 || suites % 2 != 0 {
        return Err(bad);
    }
    h.skip(suites)?;
    let compressions = usize::from(h.u8()?);
    if compressions == 0 {
        return Err(bad);
    }
    h.skip(compressions)?;
    if h.left == 0 {
        return Ok(None);
    }
    if h.len16()? != h.left {
        return Err(bad);
    }
    while h.left > 0 {
        let kind = h.u16()?;
        let len = h.len16()?;
        if kind != SERVER_NAME {
            h.skip(len)?;
            continue;
        }
        let mut ext = Bounded { r: h.r, left: len };
        if ext.len16()? != ext.left {
            return Err(bad);
        }
        while ext.left > 0 {
            let name_type = ext.u8()?;
            let n = ext.len16()?;
            if name_type != HOST_NAME {
                ext.skip(n)?;
                continue;
            }
            let mut name = NameBuilder::new();
            for _ in 0..n {
                if !name.push(ext.u8()?) {
                    return Err(Stop::Refused(Refusal::BadHost));
                }
            }
            return name
                .finish()
                .map(Some)
                .ok_or(Stop::Refused(Refusal::BadHost));
        }
        return Ok(None);
    }
    Ok(None)
}
