//! The daemon's refusals in ipvsadm's words (libipvs's `ipvs_strerror`, and DPVS's for local
//! addresses). Refusals without an ipvsadm wording print the daemon's own message.

use crate::adm::options::Cmd;
use crate::proto::{ErrorKind, ErrorReply};

/// What rvsadm prints for `reply` to command `cmd` (`None` for a `-R` batch, whose failing
/// command the reply does not name: the daemon's message is printed then).
pub fn ipvsadm_message(cmd: Option<Cmd>, reply: &ErrorReply) -> String {
    let text = cmd.and_then(|cmd| mapped(cmd, reply.kind));
    text.map_or_else(|| reply.message.clone(), str::to_string)
}

fn mapped(cmd: Cmd, kind: ErrorKind) -> Option<&'static str> {
    Some(match (kind, cmd) {
        (ErrorKind::ServiceExists, _) => "Service already exists",
        (
            ErrorKind::NoService,
            Cmd::AddReal | Cmd::EditReal | Cmd::DeleteReal | Cmd::AddLaddr | Cmd::DeleteLaddr,
        ) => "Service not defined",
        (ErrorKind::NoService, _) => "No such service",
        (ErrorKind::RealExists, _) => "Destination already exists",
        (ErrorKind::NoReal, _) => "No such destination",
        (ErrorKind::LaddrExists, _) => "Local address already exists",
        (ErrorKind::NoLaddr, _) => "No such Local address",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_libipvs() {
        let reply = |kind| ErrorReply::new(kind, "daemon text");
        let msg = |cmd, kind| ipvsadm_message(cmd, &reply(kind));
        assert_eq!(
            msg(Some(Cmd::AddReal), ErrorKind::NoService),
            "Service not defined"
        );
        assert_eq!(
            msg(Some(Cmd::EditService), ErrorKind::NoService),
            "No such service"
        );
        assert_eq!(
            msg(Some(Cmd::AddService), ErrorKind::ServiceExists),
            "Service already exists"
        );
        assert_eq!(
            msg(Some(Cmd::AddReal), ErrorKind::RealExists),
            "Destination already exists"
        );
        assert_eq!(
            msg(Some(Cmd::DeleteReal), ErrorKind::NoReal),
            "No such destination"
        );
        assert_eq!(
            msg(Some(Cmd::AddLaddr), ErrorKind::LaddrExists),
            "Local address already exists"
        );
        assert_eq!(
            msg(Some(Cmd::DeleteLaddr), ErrorKind::NoLaddr),
            "No such Local address"
        );
        assert_eq!(
            msg(Some(Cmd::AddService), ErrorKind::Invalid),
            "daemon text"
        );
        assert_eq!(msg(None, ErrorKind::NoService), "daemon text");
    }
}
