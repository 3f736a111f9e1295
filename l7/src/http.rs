//! The HTTP/1.x request line and `Host` header of a connection's first request.
//!
//! Read as RFC 9112 lays them out: empty lines before the request line are skipped; the
//! request line is `method SP target SP HTTP/1.x`, the line ending CRLF or a bare LF.
//! The decision comes as soon as it is known:
//! - an absolute-form target (`http://host:port/path`): at the end of the request line,
//!   its authority the host (RFC 9112 3.2.2: `Host` is then ignored);
//! - an origin-form target (`/path`) or `*`: at the end of the first `Host` header line,
//!   or with no host at the empty line that ends the headers;
//! - `PRI * HTTP/2.0` (cleartext HTTP/2 with prior knowledge): [`Decision::Http2`].
//!
//! A header line before `Host` must be `name:value` (no space before the colon, not
//! folded). Nothing after the deciding line is read: later headers, the body and any
//! pipelined request go to the real as they are.

use crate::{ran_out, Decision, Name, Refusal, Stop, Verdict};

/// The HTTP/2 connection preface's request line.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// The decision for the request that starts `data`, reading at most `limit` bytes.
pub fn parse(data: &[u8], limit: usize) -> Verdict<'_> {
    match request(&data[..data.len().min(limit)], limit) {
        Ok(d) => Verdict::Decided(d),
        Err(stop) => stop.verdict(),
    }
}

fn request(data: &[u8], limit: usize) -> Result<Decision<'_>, Stop> {
    let mut pos = 0;
    // Empty lines before the request line (RFC 9112 2.2).
    loop {
        match &data[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [b'\n', ..] => pos += 1,
            [b'\r'] | [] => return Err(ran_out(data, limit)),
            _ => break,
        }
    }
    let Some((line, next)) = line_at(data, pos) else {
        check_partial_request_line(&data[pos..])?;
        return Err(ran_out(data, limit));
    };
    if line == HTTP2_PREFACE {
        return Ok(Decision::Http2);
    }
    let (target, authority) = request_line(line)?;
    if let Some(authority) = authority {
        return Ok(Decision::Http {
            host: Some(host_of(authority)?),
            path: target,
        });
    }
    pos = next;
    loop {
        let Some((line, next)) = line_at(data, pos) else {
            return Err(ran_out(data, limit));
        };
        if line.is_empty() {
            return Ok(Decision::Http {
                host: None,
                path: target,
            });
        }
        if let Some(value) = header(line, b"host")? {
            let value = trim_ows(value);
            let host = if value.is_empty() {
                None
            } else {
                Some(host_of(value)?)
            };
            return Ok(Decision::Http { host, path: target });
        }
        pos = next;
    }
}

/// The line starting at `pos` without its CRLF (or LF), and where the next begins;
/// `None` while its end has not come.
fn line_at(data: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = &data[pos..];
    let end = rest.iter().position(|&b| b == b'\n')?;
    let line = &rest[..end];
    Some((line.strip_suffix(b"\r").unwrap_or(line), pos + end + 1))
}

/// A `tchar` of RFC 9110 (what a method or header name is made of).
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte a request target may hold (visible ASCII).
fn target_byte(b: u8) -> bool {
    b.is_ascii_graphic()
}

/// Refuse a request line not yet ended as soon as its bytes so far cannot start one
/// (binary garbage, a TLS hello sent to an HTTP service).
fn check_partial_request_line(part: &[u8]) -> Result<(), Stop> {
    let bad = Stop::Refused(Refusal::BadRequestLine);
    let method_end = part.iter().position(|&b| b == b' ').unwrap_or(part.len());
    if !part[..method_end].iter().all(|&b| tchar(b)) {
        return Err(bad);
    }
    let rest = part.get(method_end + 1..).unwrap_or(&[]);
    let target_end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let ends_in_cr = |s: &[u8]| {
        s.split_last()
            .is_some_and(|(&l, r)| l == b'\r' && r.iter().all(|&b| target_byte(b)))
    };
    if !rest[..target_end].iter().all(|&b| target_byte(b)) && !ends_in_cr(&rest[..target_end]) {
        return Err(bad);
    }
    Ok(())
}

/// The request line's target as its path and, for an absolute-form target, its
/// authority.
fn request_line(line: &[u8]) -> Result<(&[u8], Option<&[u8]>), Stop> {
    let bad = Stop::Refused(Refusal::BadRequestLine);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad);
    };
    let version_ok =
        matches!(version, [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit());
    if method.is_empty()
        || !method.iter().all(|&b| tchar(b))
        || target.is_empty()
        || !target.iter().all(|&b| target_byte(b))
        || !version_ok
    {
        return Err(bad);
    }
    if target[0] == b'/' || target == b"*" {
        return Ok((target, None));
    }
    let rest = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
        .ok_or(bad)?;
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    if authority.contains(&b'@') {
        // Userinfo is deprecated in http URIs (RFC 9110 4.2.4).
        return Err(Stop::Refused(Refusal::BadHost));
    }
    Ok((path, Some(authority)))
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// The value of a header line when its name is `name` (ASCII, lowercase), `None` for
/// another header.
fn header<'a>(line: &'a [u8], name: &[u8]) -> Result<Option<&'a [u8]>, Stop> {
    let bad = Stop::Refused(Refusal::BadHeader);
    let colon = line.iter().position(|&b| b == b':').ok_or(bad)?;
    let field = &line[..colon];
    if field.is_empty() || !field.iter().all(|&b| tchar(b)) {
        // Also a folded line (leading whitespace) and whitespace before the colon,
        // which RFC 9112 5.1 and 5.2 have a server refuse.
        return Err(bad);
    }
    Ok(field.eq_ignore_ascii_case(name).then(|| &line[colon + 1..]))
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// The host of an authority (`host[:port]`, `[v6][:port]`), its port checked and left
/// out.
fn host_of(authority: &[u8]) -> Result<Name, Stop> {
    let bad = Stop::Refused(Refusal::BadHost);
    let (host, port) = if authority.first() == Some(&b'[') {
        let close = authority.iter().position(|&b| b == b']').ok_or(bad)?;
        let (h, rest) = authority.split_at(close + 1);
        match rest {
            [] => (h, &[][..]),
            [b':', port @ ..] => (h, port),
            _ => return Err(bad),
        }
    } else {
        match authority.iter().position(|&b| b == b':') {
            Some(c) => (&authority[..c], &authority[c + 1..]),
            None => (authority, &[][..]),
        }
    };
    if port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    let inner_ok = match host {
        [b'[', inner @ .., b']'] => inner
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        _ => !host.contains(&b'[') && !host.contains(&b']'),
    };
    if !inner_ok {
        return Err(bad);
    }
    Name::parse(host).ok_or(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(v: Verdict<'_>) -> Option<String> {
        match v {
            Verdict::Decided(Decision::Http { host, .. }) => host.map(|h| h.to_string()),
            other => panic!("not decided: {other:?}"),
        }
    }

    fn path(v: Verdict<'_>) -> Vec<u8> {
        match v {
            Verdict::Decided(Decision::Http { path, .. }) => path.to_vec(),
            other => panic!("not decided: {other:?}"),
        }
    }

    #[test]
    fn origin_form_decides_at_the_host_line() {
        let r = b"GET /img/a.png?x=1 HTTP/1.1\r\nUser-Agent: t\r\nHOST:  Img.Example.com:8080 \r\n";
        assert_eq!(host(parse(r, 4096)).as_deref(), Some("img.example.com"));
        assert_eq!(path(parse(r, 4096)), b"/img/a.png?x=1");
        // The host line not ended: more is needed.
        assert_eq!(parse(&r[..r.len() - 1], 4096), Verdict::NeedMore);
    }

    #[test]
    fn absolute_form_wins_over_host() {
        let r = b"GET HTTP://Api.Example.com:81 HTTP/1.1\r\nHost: other\r\n\r\n";
        assert_eq!(host(parse(r, 4096)).as_deref(), Some("api.example.com"));
        assert_eq!(path(parse(r, 4096)), b"/");
        let r = b"GET https://[2001:db8::1]:443/x HTTP/1.1\r\n";
        assert_eq!(host(parse(r, 4096)).as_deref(), Some("[2001:db8::1]"));
        assert_eq!(
            parse(b"GET http://u@h/ HTTP/1.1\r\n", 4096),
            Verdict::Refused(Refusal::BadHost)
        );
    }

    #[test]
    fn missing_host_decides_at_the_end_of_the_headers_and_pipelining_is_not_read() {
        let r = b"\r\nGET / HTTP/1.0\nAccept: */*\n\nGET / HTTP/1.1\r\nHost: b\r\n\r\n";
        assert_eq!(host(parse(r, 4096)), None);
        let empty = b"GET / HTTP/1.1\r\nHost:\r\n\r\n";
        assert_eq!(host(parse(empty, 4096)), None);
    }

    #[test]
    fn refusals() {
        let refused = |r: &[u8]| match parse(r, 64) {
            Verdict::Refused(x) => x,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(r)),
        };
        assert_eq!(refused(b"\x16\x03\x01"), Refusal::BadRequestLine);
        assert_eq!(refused(b"GET / HTTP/2\r\n"), Refusal::BadRequestLine);
        assert_eq!(refused(b"GET  / HTTP/1.1\r\n"), Refusal::BadRequestLine);
        assert_eq!(
            refused(b"CONNECT h:443 HTTP/1.1\r\n"),
            Refusal::BadRequestLine
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\n folded\r\n"),
            Refusal::BadHeader
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost : a\r\n"),
            Refusal::BadHeader
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nnocolon\r\n"),
            Refusal::BadHeader
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a b\r\n"),
            Refusal::BadHost
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a:8x\r\n"),
            Refusal::BadHost
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: [::1\r\n"),
            Refusal::BadHost
        );
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            Refusal::Oversized
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\nX: a", 64), Verdict::NeedMore);
        assert_eq!(parse(b"GE", 64), Verdict::NeedMore);
        assert_eq!(parse(b"GET /a\r", 64), Verdict::NeedMore);
    }

    #[test]
    fn http2_prior_knowledge_goes_to_the_default_group() {
        let r = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        assert_eq!(parse(r, 4096), Verdict::Decided(Decision::Http2));
    }
}
