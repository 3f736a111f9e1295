//! `rvsctl import keepalived FILE`: keepalived.conf (`man keepalived.conf`) read into an
//! rvsd configuration.
//!
//! What is carried over: `virtual_server` (by address and port, or by
//! `virtual_server_group`) with its scheduler, forwarding method (NAT, DR, TUN, and
//! DPVS's FNAT with its `local_address_group`), persistence, protocol, sorry server and
//! health checkers (`TCP_CHECK`, `HTTP_GET`, `MISC_CHECK`, `UDP_CHECK`; `SSL_GET` as a
//! TCP connect) with their timers; `real_server` weight, thresholds and method; the
//! first `vrrp_instance` as `[ha]`; `global_defs` `lvs_timeouts`. Everything else the
//! file says is listed, with its line, as not carried over.

mod check;
pub mod lex;
mod tree;
mod vrrp;
mod vs;

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Dropped, ImportError, Loc};
use crate::model::{Model, Timeouts};
use crate::{finish, Import, Options};
pub use lex::Includes;
use tree::Node;

/// Import the keepalived configuration at `path` (and the files it includes).
pub fn import(path: &Path, options: &Options) -> Result<Import, ImportError> {
    let mut dropped = Vec::new();
    let mut reader = lex::Reader::new(Includes::Read, &mut dropped);
    reader.read_file(path)?;
    let lines = std::mem::take(&mut reader.lines);
    convert(lines, &path.display().to_string(), options, dropped)
}

/// Import keepalived configuration `text`, named `name` in messages; with
/// [`Includes::Read`], relative includes are read from the working directory.
pub fn import_text(
    text: &str,
    name: &str,
    options: &Options,
    includes: Includes,
) -> Result<Import, ImportError> {
    let mut dropped = Vec::new();
    let mut reader = lex::Reader::new(includes, &mut dropped);
    reader.read_text(text, name, None)?;
    let lines = std::mem::take(&mut reader.lines);
    convert(lines, name, options, dropped)
}

fn convert(
    lines: Vec<lex::Line>,
    name: &str,
    options: &Options,
    dropped: Vec<Dropped>,
) -> Result<Import, ImportError> {
    let nodes = tree::build(lines)?;
    let mut cx = Cx {
        options,
        model: Model::default(),
        dropped,
        vs_groups: HashMap::new(),
        laddr_groups: HashMap::new(),
        vrrp_version: None,
    };
    for node in &nodes {
        match node.key() {
            "virtual_server_group" => cx.group(node, true)?,
            "local_address_group" | "laddr_group" => cx.group(node, false)?,
            _ => {}
        }
    }
    for node in &nodes {
        match node.key() {
            "global_defs" => cx.global_defs(node)?,
            "virtual_server" => cx.virtual_server(node)?,
            "virtual_server_group" | "local_address_group" | "laddr_group" | "vrrp_instance" => {}
            key => cx.drop(
                node,
                format!("`{key}`: not carried over (rvs has no such setting)"),
            ),
        }
    }
    let mut first = true;
    for node in nodes.iter().filter(|n| n.key() == "vrrp_instance") {
        if first {
            cx.vrrp_instance(node)?;
            first = false;
        } else {
            cx.drop(
                node,
                "a second `vrrp_instance`: rvs joins one virtual router ([ha])".to_string(),
            );
        }
    }
    cx.dropped
        .sort_by(|a, b| (&a.loc.file, a.loc.line).cmp(&(&b.loc.file, b.loc.line)));
    finish(&cx.model, "keepalived", name, cx.dropped)
}

/// The conversion's state.
struct Cx<'a> {
    options: &'a Options,
    model: Model,
    dropped: Vec<Dropped>,
    /// `virtual_server_group` and `local_address_group` statements by name.
    vs_groups: HashMap<String, &'a Node>,
    laddr_groups: HashMap<String, &'a Node>,
    /// `global_defs` `vrrp_version`.
    vrrp_version: Option<u64>,
}

impl<'a> Cx<'a> {
    fn drop(&mut self, node: &Node, what: String) {
        self.drop_at(&node.loc, what);
    }

    fn drop_at(&mut self, loc: &Loc, what: String) {
        self.dropped.push(Dropped {
            loc: loc.clone(),
            what,
        });
    }

    /// Everything a block says that no rule took, listed as not carried over.
    fn unknown(&mut self, node: &Node, within: &str) {
        self.drop(
            node,
            format!(
                "`{}` in {within}: not carried over (rvs has no such setting)",
                node.key()
            ),
        );
    }

    fn group(&mut self, node: &'a Node, vs: bool) -> Result<(), ImportError> {
        let [name] = node.args() else {
            return Err(ImportError::at(
                &node.loc,
                format!("`{}` takes one name", node.key()),
            ));
        };
        if node.block.is_none() {
            return Err(ImportError::at(
                &node.loc,
                format!("`{}` needs a block", node.key()),
            ));
        }
        let map = if vs {
            &mut self.vs_groups
        } else {
            &mut self.laddr_groups
        };
        if map.insert(name.clone(), node).is_some() {
            return Err(ImportError::at(
                &node.loc,
                format!("`{} {name}` is defined twice", node.key()),
            ));
        }
        Ok(())
    }

    fn global_defs(&mut self, node: &Node) -> Result<(), ImportError> {
        for child in node.children() {
            match child.key() {
                "vrrp_version" => {
                    let v = arg_uint(child, 2, 3)?;
                    self.vrrp_version = Some(v);
                }
                "lvs_timeouts" => self.lvs_timeouts(child)?,
                "lvs_sync_daemon" => self.drop(
                    child,
                    "`lvs_sync_daemon`: rvs syncs connections by [ha.sync], with a key and its peers, which this line does not give".to_string(),
                ),
                _ => self.unknown(child, "global_defs"),
            }
        }
        Ok(())
    }

    fn lvs_timeouts(&mut self, node: &Node) -> Result<(), ImportError> {
        let mut t = Timeouts::default();
        let mut args = node.args().iter();
        while let Some(key) = args.next() {
            let value = args
                .next()
                .and_then(|v| crate::words::uint(v))
                .filter(|v| (1..=u64::from(u32::MAX)).contains(v))
                .ok_or_else(|| {
                    ImportError::at(
                        &node.loc,
                        format!("`lvs_timeouts {key}` needs a number of seconds above 0"),
                    )
                })?;
            let value = value as u32;
            match key.as_str() {
                "tcp" => t.tcp = Some(value),
                "tcpfin" => t.tcpfin = Some(value),
                "udp" => t.udp = Some(value),
                other => {
                    return Err(ImportError::at(
                        &node.loc,
                        format!("`lvs_timeouts`: unknown timeout {other:?} (tcp, tcpfin, udp)"),
                    ))
                }
            }
        }
        self.model.timeouts = Some(t);
        Ok(())
    }
}

/// The one argument of `node`, an integer in `lo..=hi`.
fn arg_uint(node: &Node, lo: u64, hi: u64) -> Result<u64, ImportError> {
    match node.args() {
        [v] => crate::words::uint(v)
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(|| {
                ImportError::at(
                    &node.loc,
                    format!(
                        "`{}` takes an integer from {lo} to {hi}, not {v:?}",
                        node.key()
                    ),
                )
            }),
        _ => Err(ImportError::at(
            &node.loc,
            format!("`{}` takes one integer", node.key()),
        )),
    }
}

/// The one argument of `node`, seconds (fractions allowed).
fn arg_seconds(node: &Node) -> Result<f64, ImportError> {
    match node.args() {
        [v] => crate::words::seconds(v).ok_or_else(|| {
            ImportError::at(
                &node.loc,
                format!("`{}` takes a number of seconds, not {v:?}", node.key()),
            )
        }),
        _ => Err(ImportError::at(
            &node.loc,
            format!("`{}` takes one number of seconds", node.key()),
        )),
    }
}

/// keepalived's `<BOOL>` after a keyword; the keyword alone is true.
fn arg_bool(node: &Node) -> Result<bool, ImportError> {
    match node.args() {
        [] => Ok(true),
        [v] => match v.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" => Ok(true),
            "off" | "false" | "no" => Ok(false),
            _ => Err(ImportError::at(
                &node.loc,
                format!("`{}` takes on|off|true|false|yes|no, not {v:?}", node.key()),
            )),
        },
        _ => Err(ImportError::at(
            &node.loc,
            format!("`{}` takes at most one word", node.key()),
        )),
    }
}
