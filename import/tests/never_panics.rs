//! Both parsers over arbitrary text and over shuffled keywords of their own files: an
//! import or an error, never a panic.

use proptest::prelude::*;
use rvs_import::keepalived::{self, Includes};
use rvs_import::Options;

const KEEPALIVED_WORDS: &[&str] = &[
    "virtual_server",
    "real_server",
    "vrrp_instance",
    "virtual_server_group",
    "local_address_group",
    "global_defs",
    "lvs_timeouts",
    "tcp",
    "{",
    "}",
    "\n",
    "\n",
    "\n",
    "10.0.0.1",
    "10.1.0.1",
    "80",
    "0",
    "group",
    "fwmark",
    "lb_kind",
    "NAT",
    "DR",
    "TUN",
    "FNAT",
    "lb_algo",
    "wrr",
    "sh",
    "mh",
    "flag-1",
    "persistence_timeout",
    "persistence_granularity",
    "255.255.255.0",
    "protocol",
    "UDP",
    "TCP",
    "sorry_server",
    "delay_loop",
    "connect_timeout",
    "retry",
    "delay_before_retry",
    "1",
    "0.5",
    "inhibit_on_failure",
    "weight",
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "UDP_CHECK",
    "url",
    "path",
    "/",
    "status_code",
    "200-299",
    "digest",
    "misc_path",
    "misc_dynamic",
    "state",
    "MASTER",
    "interface",
    "eth0",
    "virtual_router_id",
    "priority",
    "255",
    "advert_int",
    "nopreempt",
    "unicast_peer",
    "virtual_ipaddress",
    "10.0.0.9/24",
    "dev",
    "notify_master",
    "\"/bin/x y\"",
    "laddr_group_name",
    "10.0.0.1-3",
    "!",
    "#",
    "'",
    "\"",
    "\\x41",
    "@id",
    "$X=1",
    "include",
    "quorum",
];

const LDIRECTORD_WORDS: &[&str] = &[
    "virtual=10.0.0.1:80\n",
    "virtual=7\n",
    "virtual6=[2001:db8::1]:80\n",
    "\treal=10.1.0.1:80 gate\n",
    "\treal=10.1.0.1->10.1.0.3:8080 masq 2 \"/a\", \"b\" l:1 u:2\n",
    "\treal=[2001:db8::2]:80 ipip\n",
    "\tchecktype=negotiate\n",
    "\tchecktype=connect\n",
    "\tchecktype=external\n",
    "\tchecktype=4\n",
    "\tservice=http\n",
    "\trequest=\"x\"\n",
    "\treceive=\"y\"\n",
    "\tscheduler=rr\n",
    "\tpersistent=60\n",
    "\tnetmask=255.255.0.0\n",
    "\tprotocol=udp\n",
    "\tfallback=10.1.0.9:80 masq\n",
    "\tquiescent=no\n",
    "checkinterval=3\n",
    "checktimeout=9\n",
    "failurecount=2\n",
    "fallback=10.1.0.8\n",
    "quiescent=yes\n",
    "# c\n",
    "\n",
    "\t# c\n",
    "autoreload=no\n",
    "\tcheckport=99\n",
    "\tcheckcommand=/bin/true\n",
];

fn soup(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(words), 0..60).prop_map(|w| w.join(" "))
}

fn options() -> Options {
    Options {
        addresses: vec![("eth0".into(), "10.0.0.2/24".into())],
        ..Options::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn keepalived_any_text(text in ".{0,400}") {
        let _ = keepalived::import_text(&text, "k", &options(), Includes::Skip);
    }

    #[test]
    fn keepalived_keyword_soup(text in soup(KEEPALIVED_WORDS)) {
        let _ = keepalived::import_text(&text, "k", &options(), Includes::Skip);
    }

    #[test]
    fn ldirectord_any_text(text in ".{0,400}") {
        let _ = rvs_import::ldirectord::import_text(&text, "l", &options());
    }

    #[test]
    fn ldirectord_keyword_soup(text in soup(LDIRECTORD_WORDS)) {
        let joined = text.replace("\n ", "\n");
        let _ = rvs_import::ldirectord::import_text(&joined, "l", &options());
    }
}
