//! Builders shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rvs_conntrack::{ForwardMode, NewConn, Proto, TcpFlags, TemplateKey};

pub const SYN: TcpFlags = TcpFlags {
    syn: true,
    ack: false,
    fin: false,
    rst: false,
};
pub const SYN_ACK: TcpFlags = TcpFlags {
    syn: true,
    ack: true,
    fin: false,
    rst: false,
};
pub const ACK: TcpFlags = TcpFlags {
    syn: false,
    ack: true,
    fin: false,
    rst: false,
};
pub const FIN_ACK: TcpFlags = TcpFlags {
    syn: false,
    ack: true,
    fin: true,
    rst: false,
};
pub const RST: TcpFlags = TcpFlags {
    syn: false,
    ack: false,
    fin: false,
    rst: true,
};

pub fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port)
}

/// A connection from client `10.1.x.y:port` to `10.0.0.100:80`, real `192.168.1.2:8080`.
pub fn conn(proto: Proto, mode: ForwardMode, client: u16, port: u16) -> NewConn {
    let [x, y] = client.to_be_bytes();
    NewConn {
        proto,
        client: v4(10, 1, x, y, port),
        vip: v4(10, 0, 0, 100, 80),
        local: (mode == ForwardMode::FullNat).then(|| v4(172, 16, 0, 1, 1024 + port)),
        real: v4(192, 168, 1, 2, 8080),
        mode,
        service: 1,
        dest: 0,
        template: None,
    }
}

pub fn tcp_nat(client: u16) -> NewConn {
    conn(Proto::Tcp, ForwardMode::Nat, client, 40000)
}

pub fn template_key(client: u16) -> TemplateKey {
    let [x, y] = client.to_be_bytes();
    TemplateKey {
        service: 1,
        client: IpAddr::V4(Ipv4Addr::new(10, 1, x, y)),
        port: 0,
    }
}
