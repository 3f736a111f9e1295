//! How a snapshot's flows are owned ([`Ownership`]): the one place that decides which
//! worker owns every kind of packet and which FULLNAT local ports a worker hands out.
//! [`crate::steer`] applies it to parsed frames; the connection sync applies it to the
//! connections a peer sends.

use std::net::{IpAddr, SocketAddr};

use rvs_config::mask_addr;
use rvs_conntrack::Proto;

use crate::flow_hash::{addr_bits, mix64};
use crate::laddr::{worker_mask, PortScheme};
use crate::owner_class::{OwnershipError, ServiceClasses, ServiceKey};
use crate::rss::{forward_owner, symmetric_hash, Reta};
use crate::service::Services;

/// How a snapshot's flows are owned: the one place that decides, for every kind of
/// packet and for the FULLNAT local ports workers hand out.
#[derive(Debug)]
pub struct Ownership {
    workers: u16,
    /// Each service's class (per connection or per client address).
    classes: ServiceClasses,
    /// The table the devices are programmed after, when flows are owned by RSS queue
    /// where that is stable; `None`: by hash (devices without RSS, or `rss = "off"`).
    rss: Option<Reta>,
}

impl Ownership {
    /// By hash among `workers`, each service of `services` taking its class.
    pub fn by_hash(workers: u16, services: &Services) -> Self {
        Self {
            workers,
            classes: ServiceClasses::new(services),
            rss: None,
        }
    }

    /// By RSS queue where that is stable, the devices' tables programmed after `reta`
    /// (round-robin over the workers' queues), each service taking its class.
    pub fn by_rss(reta: Reta, workers: u16, services: &Services) -> Self {
        Self {
            workers,
            classes: ServiceClasses::new(services),
            rss: Some(reta),
        }
    }

    /// A frame from `client` to `vip`, of the service keyed `key` (the one on `vip`, or
    /// the one [`Services::resolve`] finds: [`Services::owner_key`]).
    #[inline]
    pub fn toward_vip(&self, key: ServiceKey, client: (IpAddr, u16), vip: (IpAddr, u16)) -> u16 {
        if let Some(prefix) = self.classes.per_client_prefix(key) {
            return owner_by_client_addr(mask_addr(client.0, prefix), self.workers);
        }
        match &self.rss {
            Some(reta) => forward_owner(reta, client, vip),
            None => owner_by_client(client.0, client.1, self.workers),
        }
    }

    /// A NAT reply to `client` (or anything else toward neither a VIP nor a local
    /// address): by the hash of the client's address, with or without RSS, since its
    /// VIP is not in it.
    #[inline]
    pub fn nat_reply(&self, client: (IpAddr, u16)) -> u16 {
        owner_by_client_addr(client.0, self.workers)
    }

    /// A FULLNAT reply from `remote` to `local`.
    #[inline]
    pub fn to_local(&self, local: (IpAddr, u16), remote: (IpAddr, u16)) -> u16 {
        match &self.rss {
            Some(reta) => reta.queue(symmetric_hash(remote.0, local.0, remote.1, local.1)),
            None => owner_by_local_port(local.1, self.workers),
        }
    }

    /// The owner of a connection known by its endpoints (one a peer synced): a FULLNAT
    /// one by its local endpoint (its owner chose the port to come back to it), any
    /// other, and a persistence template (client: the masked address, port 0), as its
    /// client's frames toward the VIP.
    pub fn of_connection(
        &self,
        services: &Services,
        proto: Proto,
        client: SocketAddr,
        vip: SocketAddr,
        real: SocketAddr,
        local: Option<SocketAddr>,
    ) -> u16 {
        let (client, vip) = ((client.ip(), client.port()), (vip.ip(), vip.port()));
        match local {
            Some(l) => self.to_local((l.ip(), l.port()), (real.ip(), real.port())),
            None => self.toward_vip(services.owner_key(proto, client.0, vip), client, vip),
        }
    }

    /// The redirection table flows are owned after, when they are owned by RSS queue.
    pub fn reta(&self) -> Option<&Reta> {
        self.rss.as_ref()
    }

    /// How workers choose FULLNAT local ports so that replies come back to them.
    pub fn port_scheme(&self) -> PortScheme {
        match &self.rss {
            Some(reta) => PortScheme::Rss(reta.clone()),
            None => PortScheme::LowBits(self.workers),
        }
    }

    /// This ownership for the services of a new configuration: every service keeps
    /// the class it has (refused when an edit needs another).
    pub fn rebuilt(&self, services: &Services) -> Result<Self, OwnershipError> {
        Ok(Self {
            workers: self.workers,
            classes: self.classes.rebuilt(services, self.workers)?,
            rss: self.rss.clone(),
        })
    }
}

/// Owner of every connection of a client address (of a service owned by client
/// address: persistent, or reaching an endpoint by NAT), and of a NAT reply, hashed on
/// its destination's address. `addr` is already masked by the service's prefix.
#[inline]
pub fn owner_by_client_addr(addr: IpAddr, workers: u16) -> u16 {
    owner_by_client(addr, 0, workers)
}

/// Owner of a connection from `addr`, `port`, of a service owned per connection.
pub fn owner_by_client(addr: IpAddr, port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    let folded = addr_bits(addr);
    let h = mix64(folded ^ (u64::from(port) << 32 | u64::from(port)));
    ((h >> 32) % u64::from(workers)) as u16
}

/// Owner of a FULLNAT reply: the worker whose id sits in the local port's low bits.
/// With a worker count that is not a power of two, bits naming no worker fold back.
pub fn owner_by_local_port(port: u16, workers: u16) -> u16 {
    if workers <= 1 {
        return 0;
    }
    (port & worker_mask(workers)) % workers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laddr::LocalPorts;

    #[test]
    fn one_worker_owns_everything() {
        assert_eq!(owner_by_client("10.0.0.1".parse().unwrap(), 5, 1), 0);
        assert_eq!(owner_by_local_port(4097, 1), 0);
    }

    #[test]
    fn clients_spread_over_workers_and_stay_put() {
        let mut per = [0u32; 3];
        for i in 0..3000u32 {
            let a = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let w = owner_by_client(a, 40000 + (i % 7) as u16, 3);
            assert_eq!(w, owner_by_client(a, 40000 + (i % 7) as u16, 3));
            per[w as usize] += 1;
        }
        assert!(per.iter().all(|&n| n > 800), "{per:?}");
    }

    #[test]
    fn a_local_port_steers_back_to_the_worker_that_allocated_it() {
        let laddr: IpAddr = "10.1.0.2".parse().unwrap();
        for workers in [2u16, 3, 4] {
            for w in 0..workers {
                let mut lp = LocalPorts::new(w, workers, 3);
                lp.ensure(laddr);
                for _ in 0..50 {
                    let (_, port) = lp.alloc(&[laddr], 0, (laddr, 80)).unwrap();
                    assert_eq!(owner_by_local_port(port, workers), w);
                }
            }
        }
    }
}
