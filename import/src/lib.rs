//! rvs-import: keepalived and ldirectord configuration files read into an rvsd
//! configuration.
//!
//! [`keepalived::import`] and [`ldirectord::import`] read a file as its program reads it
//! (keepalived's blocks, comments, quoting and `include`s; ldirectord's `virtual =`
//! sections) and make an [`Import`]: the rvsd configuration (TOML, the format of
//! `docs/config.md`) for what the file describes, checked by rvs's own parser and
//! validation, and every [`Dropped`] item the configuration does not carry, each with
//! its file and line. A file its program would refuse is an [`ImportError`] with its
//! line. `rvsctl import` prints both.
//!
//! Neither importer touches the network: host and service names are not resolved
//! (ldirectord's well-known service names excepted), and only `include` reads other
//! files.

mod emit;
mod error;
pub mod keepalived;
pub mod ldirectord;
mod model;
mod words;

pub use error::{Dropped, ImportError, Loc};

use model::{Model, Port};

/// What the command line adds to a file: how its kernel interfaces become rvs ports.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--port IFACE=NAME`: the rvs port name for a kernel interface (default: the
    /// interface's own name).
    pub ports: Vec<(String, String)>,
    /// `--address IFACE=PREFIX`: the director's own address on an interface, which the
    /// files do not hold (keepalived reads it from the kernel).
    pub addresses: Vec<(String, String)>,
    /// `--device IFACE=DEVICE`: the DPDK device of an interface's port (default: the
    /// interface through `net_af_packet`).
    pub devices: Vec<(String, String)>,
}

impl Options {
    /// Split `IFACE=VALUE`, as the command line gives each option.
    pub fn pair(option: &str, text: &str) -> Result<(String, String), ImportError> {
        match text.split_once('=') {
            Some((iface, value)) if !iface.is_empty() && !value.is_empty() => {
                Ok((iface.to_string(), value.to_string()))
            }
            _ => Err(ImportError::Option(format!(
                "{option} {text:?}: expected IFACE=VALUE"
            ))),
        }
    }

    fn lookup<'a>(list: &'a [(String, String)], iface: &str) -> impl Iterator<Item = &'a str> {
        let iface = iface.to_string();
        list.iter()
            .filter(move |(i, _)| *i == iface)
            .map(|(_, v)| v.as_str())
    }
}

/// An imported configuration.
#[derive(Clone, Debug)]
pub struct Import {
    /// The rvsd configuration file, validated by rvs's parser.
    pub toml: String,
    /// What the source describes that the configuration does not carry, in source order.
    pub dropped: Vec<Dropped>,
}

/// The rvs port standing for kernel interface `iface`, made on first use.
pub(crate) fn port_for(
    model: &mut Model,
    options: &Options,
    iface: &str,
) -> Result<String, ImportError> {
    if let Some(port) = model.ports.iter().find(|p| p.iface == iface) {
        return Ok(port.name.clone());
    }
    let name = Options::lookup(&options.ports, iface)
        .last()
        .unwrap_or(iface)
        .to_string();
    let valid = !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(ImportError::Option(format!(
            "interface {iface:?}: {name:?} is not a valid rvs port name (letters, digits, -, _ and .); give one with --port {iface}=NAME"
        )));
    }
    let device = Options::lookup(&options.devices, iface)
        .last()
        .map(str::to_string)
        .unwrap_or_else(|| format!("net_af_packet{},iface={iface}", model.ports.len()));
    let mut addresses = Vec::new();
    for text in Options::lookup(&options.addresses, iface) {
        if !text.contains('/') {
            return Err(ImportError::Option(format!(
                "--address {iface}={text}: give the prefix length (ADDRESS/LEN)"
            )));
        }
        let prefix = model::host_prefix(text).ok_or_else(|| {
            ImportError::Option(format!("--address {iface}={text}: not an address/length"))
        })?;
        addresses.push(prefix);
    }
    model.ports.push(Port {
        name: name.clone(),
        device,
        iface: iface.to_string(),
        addresses,
    });
    Ok(name)
}

/// Write `model` and check it with rvs's own parser and validation.
pub(crate) fn finish(
    model: &Model,
    program: &str,
    file: &str,
    dropped: Vec<Dropped>,
) -> Result<Import, ImportError> {
    let mut header = vec![format!(
        "rvs configuration imported from the {program} file {file}"
    )];
    if model.ports.is_empty() {
        header.push(
            "The file names no network interface: add the [[port]] and [[route]] tables"
                .to_string(),
        );
        header.push("(docs/config.md) before rvsd can serve these services.".to_string());
    }
    if !dropped.is_empty() {
        header.push(format!(
            "{} item(s) of the file are not carried over (listed by rvsctl import on stderr).",
            dropped.len()
        ));
    }
    let toml = emit::to_toml(model, &header);
    match rvs_config::Config::parse(&toml, "imported") {
        Ok(_) => Ok(Import { toml, dropped }),
        Err(e) => Err(ImportError::Refused {
            message: e.to_string(),
            toml,
        }),
    }
}
