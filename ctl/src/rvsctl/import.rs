//! `rvsctl import keepalived|ldirectord FILE`: the configuration on stdout, what was not
//! carried over on stderr, each with its file and line.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rvs_import::{ImportError, Options};

/// `rvsctl import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A keepalived.conf (and the files it includes).
    Keepalived(ImportArgs),
    /// An ldirectord.cf.
    Ldirectord(ImportArgs),
}

/// The file and how its interfaces map to rvs ports.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to read.
    pub file: PathBuf,
    /// Exit 0 even when items of the file are not carried over (they are still listed).
    #[arg(long)]
    pub allow_partial: bool,
    /// The rvs port name for a kernel interface (default: the interface's name).
    #[arg(long = "port", value_name = "IFACE=NAME")]
    pub ports: Vec<String>,
    /// The director's own address on an interface, with its length (keepalived reads it
    /// from the kernel); needed for `[ha]`.
    #[arg(long = "address", value_name = "IFACE=PREFIX")]
    pub addresses: Vec<String>,
    /// The DPDK device of an interface's port (default: the interface through
    /// net_af_packet).
    #[arg(long = "device", value_name = "IFACE=DEVICE")]
    pub devices: Vec<String>,
}

fn options(args: &ImportArgs) -> Result<Options, ImportError> {
    let pairs = |name: &str, list: &[String]| -> Result<Vec<(String, String)>, ImportError> {
        list.iter().map(|t| Options::pair(name, t)).collect()
    };
    Ok(Options {
        ports: pairs("--port", &args.ports)?,
        addresses: pairs("--address", &args.addresses)?,
        devices: pairs("--device", &args.devices)?,
    })
}

/// Run an import: 0 when everything was carried over (or `--allow-partial`), 1 when
/// something was not or the file is malformed, 2 for a bad option.
pub fn run(command: ImportCommand, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let (args, keepalived) = match &command {
        ImportCommand::Keepalived(a) => (a, true),
        ImportCommand::Ldirectord(a) => (a, false),
    };
    let result = options(args).and_then(|o| {
        if keepalived {
            rvs_import::keepalived::import(&args.file, &o)
        } else {
            rvs_import::ldirectord::import(&args.file, &o)
        }
    });
    match result {
        Ok(import) => {
            let _ = out.write_all(import.toml.as_bytes());
            for d in &import.dropped {
                let _ = writeln!(err, "not carried over: {d}");
            }
            if import.dropped.is_empty() || args.allow_partial {
                0
            } else {
                let _ = writeln!(
                    err,
                    "rvsctl: {} item(s) of {} not carried over; --allow-partial accepts the configuration without them",
                    import.dropped.len(),
                    args.file.display()
                );
                1
            }
        }
        Err(e) => {
            let _ = writeln!(err, "rvsctl: {e}");
            if let ImportError::Refused { toml, .. } = &e {
                let _ = writeln!(err, "the configuration made:\n{toml}");
            }
            match e {
                ImportError::Option(_) => 2,
                _ => 1,
            }
        }
    }
}
