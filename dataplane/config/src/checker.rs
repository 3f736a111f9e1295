//! [`Checker`]: what every section's checks share. It knows the file being validated,
//! turns byte spans into positioned errors, and reads the values several sections hold
//! (addresses, MACs, prefixes, port names).

use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use hashbrown::HashMap;

use super::error::{ConfigError, Location, Origin, Problem};
use super::net::{is_unicast_mac, parse_mac, IpNet};
use super::raw::SStr;
use super::{PortId, SyncKey};

/// The file being validated: turns spans into positioned errors.
pub(super) struct Checker<'a> {
    /// File name for errors.
    pub file: &'a str,
    /// The text, to turn byte spans into lines.
    pub text: &'a str,
    /// A sync key already read, with the file it came from: a `key_file` naming that
    /// file takes it instead of reading the file again (see `Config::revalidate`).
    pub known_key: Option<(&'a Path, &'a SyncKey)>,
}

impl Checker<'_> {
    /// An error at `span` in the object described by `context`.
    pub fn err(&self, span: Range<usize>, context: &str, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            origin: Origin::of_span(self.file, self.text, Some(span)),
            context: context.to_owned(),
            problem,
        }
    }

    /// The line of byte `offset` (computed only for an error: it scans the text).
    pub fn line_at(&self, offset: usize) -> usize {
        Location::of_offset(self.text, offset).line
    }

    /// Parse an IP address.
    pub fn addr(&self, s: &SStr, context: &str) -> Result<IpAddr, ConfigError> {
        s.get_ref()
            .parse()
            .map_err(|_| self.err(s.span(), context, Problem::BadAddress(s.get_ref().clone())))
    }

    /// Parse a unicast MAC address.
    pub fn mac(&self, s: &SStr, context: &str) -> Result<[u8; 6], ConfigError> {
        let text = s.get_ref();
        let mac = parse_mac(text)
            .ok_or_else(|| self.err(s.span(), context, Problem::BadMac(text.clone())))?;
        if !is_unicast_mac(mac) {
            return Err(self.err(s.span(), context, Problem::NotUnicastMac(text.clone())));
        }
        Ok(mac)
    }

    /// Parse a prefix.
    pub fn net(&self, s: &SStr, context: &str) -> Result<IpNet, ConfigError> {
        s.get_ref().parse().map_err(|reason| {
            let value = s.get_ref().clone();
            self.err(s.span(), context, Problem::BadPrefix { value, reason })
        })
    }

    /// The port a section names, looked up in `names` (the validated ports' names).
    pub fn port(
        &self,
        s: &SStr,
        names: &HashMap<String, PortId>,
        context: &str,
    ) -> Result<PortId, ConfigError> {
        names
            .get(s.get_ref())
            .copied()
            .ok_or_else(|| self.err(s.span(), context, Problem::UnknownPort(s.get_ref().clone())))
    }
}
