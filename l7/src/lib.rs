//! Content switching's parsers and rules: what the director reads of a client's first
//! bytes to choose a group of reals, and nothing more.
//!
//! The parsers are incremental in the simplest way: each call is given every byte the
//! connection has sent so far (a bounded prefix of its stream) and answers
//! [`Verdict::NeedMore`], [`Verdict::Decided`] or [`Verdict::Refused`]. They never
//! allocate, read at most `limit` bytes, and never panic on any input (the fuzz target
//! `l7_parse` and the property tests hold them to it).
//!
//! - [`http::parse`]: an HTTP/1.x request line and its `Host` header (case-insensitive,
//!   port stripped); an absolute-form URI's authority wins over `Host`, as RFC 9112
//!   says. The first request decides: what follows it on the connection (pipelined or
//!   keep-alive requests) is never read.
//! - [`tls::parse`]: a TLS ClientHello's `server_name` (RFC 6066), its handshake message
//!   reassembled across records.
//! - [`rule`]: host patterns (`exact` or `*.suffix`), path prefixes and the first rule
//!   that matches a [`Decision`].

#![forbid(unsafe_code)]

pub mod http;
pub mod name;
pub mod rule;
pub mod tls;

pub use name::Name;
pub use rule::{first_match, HostPattern, Rule};

/// What a parser says of the bytes held so far.
// A decision holds its name inline (no allocation): a few hundred bytes on the stack.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Not enough bytes yet to decide, and nothing wrong with them so far.
    NeedMore,
    /// Enough to choose: what the rules are matched against.
    Decided(Decision<'a>),
    /// The bytes cannot decide: the connection is refused for this reason.
    Refused(Refusal),
}

/// What the rules of a service are matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// An HTTP/1.x request: its host (from the absolute-form URI, else the `Host`
    /// header; `None` when it has neither) and its request target's path (as sent,
    /// query included; `*` for `OPTIONS *`).
    Http {
        /// The host, lowercased, without port nor trailing dot.
        host: Option<Name>,
        /// The path and query as sent (not decoded nor normalised).
        path: &'a [u8],
    },
    /// A TLS ClientHello: its `server_name` (`None` when it sends none).
    Tls {
        /// The server name, lowercased, without trailing dot.
        sni: Option<Name>,
    },
    /// Cleartext HTTP/2 with prior knowledge (the connection preface): no host to read
    /// before the real answers, so only the default group serves it.
    Http2,
}

/// Why a parser refused the bytes: each is counted by the dataplane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes are not an HTTP/1.x request line (method, target, version).
    BadRequestLine,
    /// A header line before `Host` is malformed (no colon, space before the colon, a
    /// folded line).
    BadHeader,
    /// The host (URI authority, `Host` value or server name) is not a host name or IP
    /// literal, or is longer than [`name::MAX_NAME`] bytes.
    BadHost,
    /// The bytes do not start a TLS handshake record.
    NotTls,
    /// The handshake is not a well-formed ClientHello.
    BadHello,
    /// The limit was reached before anything decided.
    Oversized,
}

/// Protocols a service can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.x: request line and `Host`.
    Http,
    /// TLS: the ClientHello's server name.
    Tls,
}

impl Protocol {
    /// The name the configuration gives it (`l7 = "http"`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Tls => "tls",
        }
    }

    /// The protocol's parser over `data` (every byte held so far), reading at most
    /// `limit` bytes.
    pub fn parse(self, data: &[u8], limit: usize) -> Verdict<'_> {
        match self {
            Protocol::Http => http::parse(data, limit),
            Protocol::Tls => tls::parse(data, limit),
        }
    }
}

/// Where a parser stopped short of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The bytes ran out below the limit.
    NeedMore,
    /// The bytes are refused.
    Refused(Refusal),
}

impl Stop {
    /// The verdict for stopping here.
    fn verdict<'a>(self) -> Verdict<'a> {
        match self {
            Stop::NeedMore => Verdict::NeedMore,
            Stop::Refused(r) => Verdict::Refused(r),
        }
    }
}

/// Running out of bytes at `data.len()` (`limit` the most to read): more may come below
/// the limit, none at it.
fn ran_out(data: &[u8], limit: usize) -> Stop {
    if data.len() >= limit {
        Stop::Refused(Refusal::Oversized)
    } else {
        Stop::NeedMore
    }
}
