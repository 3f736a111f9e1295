//! Each service's ownership class: whether its connections are owned one by one (spread
//! over the workers by client port) or by client address, so that every connection of a
//! client meets on one worker.
//!
//! A service is owned by client address ([`Class::PerClient`]) when
//! - it is persistent (`ipvsadm -p`): its templates live in each worker's own table, so
//!   every connection of a client, masked by the persistence netmask (`-M`), must reach
//!   the worker that holds the client's template; the address is masked by the
//!   service's persistence prefix;
//! - or it reaches an endpoint (real or sorry server) by NAT: a NAT reply names the
//!   client but not its VIP (a real may serve several services, and edits move it), so
//!   every NAT reply is owned by its destination's address alone, and so is every
//!   connection of a NAT service. Its prefix is the whole address: a NAT service
//!   persistent per netmask wider than one address cannot keep both directions and the
//!   netmask on one worker, and the configuration refuses it with several workers.
//!
//! Any other service is owned per connection. The cost of the rule: a client address
//! (a persistent service's client netmask) uses one worker for all its connections to
//! such services, however many it opens, as a NAT gateway full of clients would.
//!
//! A service's class is decided when it first has an endpoint (before, it has no
//! connection) and kept while it exists, since its open connections were placed by it:
//! a service that loses its NAT reals or its persistence, or narrows its persistence
//! netmask, keeps its class; an edit that needs a coarser class (a service owned per
//! connection made persistent or given a NAT endpoint, a persistence netmask widened) is
//! refused ([`OwnershipError`]), as is a NAT endpoint added to a service owned per
//! netmask: delete the service and add it again. A deleted service
//! owned by client address keeps its class while its connections drain (bounded, see
//! [`crate::draining`]) and takes it up again if it is added again.

use std::net::IpAddr;

use hashbrown::{HashMap, HashSet};
use rvs_conntrack::{ForwardMode, Proto};

use crate::draining::Draining;
use crate::service::{Service, Services};

/// A service's key: protocol, VIP, port.
pub type ServiceKey = (Proto, IpAddr, u16);

/// How a service's connections are owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// One by one: by the hash of client address and port, or under RSS by the RSS
    /// queue of the client -> VIP tuple.
    PerConnection,
    /// By the hash of the client address masked to this prefix length.
    PerClient(u8),
}

/// A service edit that would move the owner of its open connections.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OwnershipError {
    /// Persistence or a NAT endpoint added to a service owned per connection.
    #[error(
        "service {proto:?} {vip}:{port} spreads its connections over the workers one by one \
         (its first reals were neither NAT nor persistent) and keeps that while it exists, \
         so it cannot be made persistent nor take a NAT real or sorry server: delete the \
         service and add it again"
    )]
    PerConnectionOwned {
        /// The service's protocol.
        proto: Proto,
        /// Its VIP.
        vip: IpAddr,
        /// Its port.
        port: u16,
    },
    /// A NAT endpoint added to a service whose clients are placed per netmask wider
    /// than one address: its replies would be owned by the client's address.
    #[error(
        "service {proto:?} {vip}:{port} places its clients on workers per /{kept} (it was \
         persistent per netmask) and keeps that while it exists, so it cannot take a NAT \
         real or sorry server, whose replies are steered by client address: delete the \
         service and add it again"
    )]
    NatOnNetmaskOwned {
        /// The service's protocol.
        proto: Proto,
        /// Its VIP.
        vip: IpAddr,
        /// Its port.
        port: u16,
        /// The prefix length its clients are owned by.
        kept: u8,
    },
    /// A persistence netmask wider than the one the service's connections are owned by.
    #[error(
        "service {proto:?} {vip}:{port} places its clients on workers per /{kept} and keeps \
         that while it exists, so its persistence netmask cannot be widened: delete the \
         service and add it again"
    )]
    NetmaskWidened {
        /// The service's protocol.
        proto: Proto,
        /// Its VIP.
        vip: IpAddr,
        /// Its port.
        port: u16,
        /// The prefix length its clients are owned by.
        kept: u8,
    },
}

/// The key of `svc`.
pub fn key_of(svc: &Service) -> ServiceKey {
    (svc.proto, svc.vip.ip(), svc.vip.port())
}

/// The class a service takes when it first has an endpoint (a real or a sorry server),
/// `None` while it has none (and so no connection).
pub fn class_of(svc: &Service) -> Option<Class> {
    let spec = &svc.config;
    let sorry = spec.check.as_ref().and_then(|c| c.sorry);
    if spec.reals.is_empty() && sorry.is_none() {
        return None;
    }
    Some(if has_nat_endpoint(svc) {
        Class::PerClient(host_len(svc.vip.ip()))
    } else if svc.persistence_s > 0 {
        Class::PerClient(svc.persistence_prefix)
    } else {
        Class::PerConnection
    })
}

/// True when `svc` reaches a real or its sorry server by NAT.
fn has_nat_endpoint(svc: &Service) -> bool {
    let spec = &svc.config;
    let sorry = spec.check.as_ref().and_then(|c| c.sorry);
    spec.reals.iter().any(|r| r.forward == ForwardMode::Nat)
        || (sorry.is_some() && spec.sorry_forward() == ForwardMode::Nat)
}

/// The prefix length of one address of `addr`'s family.
pub fn host_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The classes of a snapshot's services (and of deleted ones still draining).
#[derive(Debug, Default)]
pub struct ServiceClasses {
    /// Services owned by client address, with their prefix (the per-packet lookup).
    per_client: HashMap<ServiceKey, u8>,
    /// Services owned per connection (kept so that the class survives edits).
    per_connection: HashSet<ServiceKey>,
    /// Deleted services that were owned by client address, with their prefix.
    former: Draining<(ServiceKey, u8)>,
    /// `former` by key (the per-packet lookup).
    former_prefix: HashMap<ServiceKey, u8>,
}

impl ServiceClasses {
    /// Each service's class from its endpoints and persistence.
    pub fn new(services: &Services) -> Self {
        Self::classify(services, None)
    }

    /// The classes of a new configuration's services: those known keep their class, the
    /// others take theirs. With one worker nothing is refused (every flow is its).
    pub fn rebuilt(&self, services: &Services, workers: u16) -> Result<Self, OwnershipError> {
        if workers > 1 {
            for svc in services.list() {
                self.check_edit(svc)?;
            }
        }
        Ok(Self::classify(services, Some(self)))
    }

    /// Refuse an edit that needs a coarser class than `svc` has.
    fn check_edit(&self, svc: &Service) -> Result<(), OwnershipError> {
        let (proto, vip, port) = key_of(svc);
        match (self.class(key_of(svc)), class_of(svc)) {
            (Some(Class::PerConnection), Some(Class::PerClient(_))) => {
                Err(OwnershipError::PerConnectionOwned { proto, vip, port })
            }
            (Some(Class::PerClient(kept)), Some(_))
                if has_nat_endpoint(svc) && kept < host_len(vip) =>
            {
                Err(OwnershipError::NatOnNetmaskOwned {
                    proto,
                    vip,
                    port,
                    kept,
                })
            }
            (Some(Class::PerClient(kept)), Some(Class::PerClient(wanted))) if wanted < kept => {
                Err(OwnershipError::NetmaskWidened {
                    proto,
                    vip,
                    port,
                    kept,
                })
            }
            _ => Ok(()),
        }
    }

    fn classify(services: &Services, previous: Option<&Self>) -> Self {
        let former = previous.map_or_else(Draining::default, |p| {
            let configured =
                |(key, _): &(ServiceKey, u8)| services.find(key.0, key.1, key.2).is_some();
            p.former
                .after_edit(p.per_client.iter().map(|(&k, &v)| (k, v)), configured)
        });
        let mut next = Self {
            former_prefix: former.iter().copied().collect(),
            former,
            ..Self::default()
        };
        for svc in services.list() {
            let key = key_of(svc);
            match previous
                .and_then(|p| p.class(key))
                .or_else(|| class_of(svc))
            {
                Some(Class::PerClient(prefix)) => {
                    next.per_client.insert(key, prefix);
                }
                Some(Class::PerConnection) => {
                    next.per_connection.insert(key);
                }
                None => {}
            }
        }
        next
    }

    /// The class `key` has, if decided.
    pub fn class(&self, key: ServiceKey) -> Option<Class> {
        if let Some(prefix) = self.per_client_prefix(key) {
            Some(Class::PerClient(prefix))
        } else if self.per_connection.contains(&key) {
            Some(Class::PerConnection)
        } else {
            None
        }
    }

    /// The prefix the clients of `key` are owned by, `None` when it is owned per
    /// connection (or undecided, or deleted while owned per connection).
    #[inline]
    pub fn per_client_prefix(&self, key: ServiceKey) -> Option<u8> {
        if !self.per_client.is_empty() {
            if let Some(&prefix) = self.per_client.get(&key) {
                return Some(prefix);
            }
        }
        if self.former_prefix.is_empty() {
            return None;
        }
        self.former_prefix.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::IdRegistry;
    use rvs_config::Config;

    const VIP: &str = "10.0.0.100";

    /// A service on port 80 with one real `forward`, persistent for `persistence`
    /// seconds per `mask` when given.
    fn services(svc: Option<(&str, u32, Option<&str>)>, ids: &mut IdRegistry) -> Services {
        let mut text = "[dataplane]\nworkers = 4\n".to_owned();
        if let Some((forward, persistence, mask)) = svc {
            text += &format!(
                "[[service]]\nproto = \"tcp\"\nvip = \"{VIP}\"\nport = 80\n\
                 persistence = {persistence}\nladdrs = [\"10.1.0.2\"]\n"
            );
            if let Some(m) = mask {
                text += &format!("persistence_mask = \"{m}\"\n");
            }
            text += &format!("[[service.real]]\nip = \"10.1.0.11\"\nforward = \"{forward}\"\n");
        }
        let config = Config::parse(&text, "class.toml").unwrap();
        Services::build(&config.services, ids).unwrap()
    }

    fn key() -> ServiceKey {
        (Proto::Tcp, VIP.parse().unwrap(), 80)
    }

    #[test]
    fn persistent_and_nat_services_are_owned_by_client_address() {
        let mut ids = IdRegistry::default();
        let class = |svc| {
            ServiceClasses::new(&services(Some(svc), &mut IdRegistry::default())).class(key())
        };
        assert_eq!(class(("fullnat", 0, None)), Some(Class::PerConnection));
        assert_eq!(class(("dr", 300, None)), Some(Class::PerClient(32)));
        assert_eq!(
            class(("fullnat", 300, Some("255.255.255.0"))),
            Some(Class::PerClient(24))
        );
        assert_eq!(class(("nat", 0, None)), Some(Class::PerClient(32)));
        assert_eq!(
            ServiceClasses::new(&services(None, &mut ids)).class(key()),
            None
        );
    }

    #[test]
    fn an_edit_keeps_the_class_or_is_refused() {
        let mut ids = IdRegistry::default();
        let spread = ServiceClasses::new(&services(Some(("fullnat", 0, None)), &mut ids));
        let persistent = services(Some(("fullnat", 300, None)), &mut ids);
        assert!(matches!(
            spread.rebuilt(&persistent, 4),
            Err(OwnershipError::PerConnectionOwned { port: 80, .. })
        ));
        let with_nat = services(Some(("nat", 0, None)), &mut ids);
        assert!(spread.rebuilt(&with_nat, 4).is_err());
        assert!(
            spread.rebuilt(&persistent, 1).is_ok(),
            "one worker owns all"
        );

        let per_24 = services(Some(("dr", 300, Some("255.255.255.0"))), &mut ids);
        let classes = ServiceClasses::new(&per_24);
        // Narrower, or persistence off: the class stays.
        for edit in [("dr", 300, None), ("dr", 0, None)] {
            let edited = classes.rebuilt(&services(Some(edit), &mut ids), 4).unwrap();
            assert_eq!(edited.class(key()), Some(Class::PerClient(24)), "{edit:?}");
        }
        // Persistence off, then a NAT real: its replies could not follow the /24.
        let nat = services(Some(("nat", 0, None)), &mut ids);
        assert!(matches!(
            classes.rebuilt(&nat, 4),
            Err(OwnershipError::NatOnNetmaskOwned { kept: 24, .. })
        ));
        let wider = services(Some(("dr", 300, Some("255.255.0.0"))), &mut ids);
        assert_eq!(
            classes.rebuilt(&wider, 4).unwrap_err(),
            OwnershipError::NetmaskWidened {
                proto: Proto::Tcp,
                vip: VIP.parse().unwrap(),
                port: 80,
                kept: 24
            }
        );
    }

    #[test]
    fn a_deleted_service_keeps_its_class_while_it_drains_and_when_added_again() {
        let mut ids = IdRegistry::default();
        let per_24 = services(Some(("dr", 300, Some("255.255.255.0"))), &mut ids);
        let classes = ServiceClasses::new(&per_24);
        let deleted = classes.rebuilt(&services(None, &mut ids), 4).unwrap();
        assert_eq!(deleted.per_client_prefix(key()), Some(24));
        let again = services(Some(("dr", 0, None)), &mut ids);
        let added = deleted.rebuilt(&again, 4).unwrap();
        assert_eq!(added.class(key()), Some(Class::PerClient(24)));
        // A deleted service owned per connection leaves nothing behind.
        let spread = ServiceClasses::new(&services(Some(("dr", 0, None)), &mut ids));
        let gone = spread.rebuilt(&services(None, &mut ids), 4).unwrap();
        assert_eq!(gone.class(key()), None);
        let persistent = services(Some(("dr", 300, None)), &mut ids);
        assert_eq!(
            gone.rebuilt(&persistent, 4).unwrap().class(key()),
            Some(Class::PerClient(32)),
            "added again, it takes its class afresh"
        );
    }
}
