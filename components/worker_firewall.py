"""The delivery worker host's own firewall: an nftables ruleset rendered for one VPC, loaded at boot.

The workers' security group and network ACL (:mod:`~smtp_egress.components.egress_rules`) already limit what
leaves the subnet; this ruleset is the host's own layer, so that a bug in the worker (an SSRF through a customer's
SMTP settings) cannot reach what lives next to it even where the security group is loosened. It filters what the
host sends (hook ``output``), in one table of its own (``inet smtp_egress_worker``), and decides in this order:

1. loopback: accepted (the worker's health and metrics endpoint listens on 127.0.0.1);
2. replies of connections already established: accepted;
3. TCP 25, to any address: rejected (customers' servers take mail on 465, 587 and 2525; port 25 is for MTAs);
4. what the instance itself needs, and nothing more:
   - instance metadata (IMDS, 169.254.169.254, TCP 80) for root and the worker's own user only (``meta skuid``):
     boto3 in the worker takes the instance role's credentials from there. Any other user is rejected. The
     worker's SMTP client cannot abuse it: its destination guard refuses link-local addresses before
     connecting, IMDSv2 (the launch template requires tokens, hop limit 1) answers only a PUT with a token
     header, which an SMTP dialogue cannot produce;
   - DNS: the VPC resolver (the VPC's base address + 2, and 169.254.169.253), UDP and TCP 53;
   - NTP: the Amazon Time Sync Service (169.254.169.123, UDP 123);
   - DHCP renewals (UDP 68 -> 67): without them the instance loses its address when the lease ends;
   - HTTPS inside the VPC CIDR (TCP 443 only): the interface endpoints (SQS, KMS) have private addresses there.
     The S3 gateway endpoint needs no rule: S3's addresses are public (a prefix list on the route tables);
5. every private, shared (CGNAT 100.64/10), link-local, reserved, multicast and unique-local range, IPv4 and
   IPv6: rejected (ICMP "administratively prohibited", so a refused connection fails at once instead of timing
   out).

Everything else (the customers' servers on the public internet) is accepted here and left to the security group.
"""

from __future__ import annotations

import ipaddress

TABLE = "smtp_egress_worker"
WORKER_USER = "smtp-egress"
IMDS, AMAZON_DNS, AMAZON_NTP = "169.254.169.254", "169.254.169.253", "169.254.169.123"

PRIVATE_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
PRIVATE_V6 = (
    "::/127",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


def vpc_resolver(vpc_cidr: str) -> str:
    """The VPC's DNS resolver: its base address + 2 (AWS reserves it in every VPC)."""
    return str(ipaddress.ip_network(vpc_cidr).network_address + 2)


def check_vpc_cidr(vpc_cidr: object) -> str:
    """The VPC CIDR as nftables gets it; ValueError naming the value when it is not a private IPv4 network."""
    try:
        net = ipaddress.IPv4Network(str(vpc_cidr))
    except ValueError:
        net = None
    if not isinstance(vpc_cidr, str) or net is None or not net.is_private or not 16 <= net.prefixlen <= 28:
        raise ValueError(
            f"vpc_cidr {str(vpc_cidr)[:60]!r} cannot go into the worker's firewall: give the VPC's IPv4 CIDR, "
            "a private network from /16 to /28 such as '10.40.0.0/16'"
        )
    return str(net)


def ruleset(vpc_cidr: str, worker_user: str = WORKER_USER) -> str:
    """The nftables ruleset (``nft -f`` input); replaces only its own table, so reloading it is idempotent."""
    cidr = check_vpc_cidr(vpc_cidr)
    resolvers = f"{vpc_resolver(cidr)}, {AMAZON_DNS}"
    v4 = ",\n      ".join(PRIVATE_V4)
    v6 = ",\n      ".join(PRIVATE_V6)
    return f"""#!/usr/sbin/nft -f
# smtp-egress delivery worker: what this host may send (components/worker_firewall.py; see its docstring).
table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
  set private_v4 {{
    type ipv4_addr
    flags interval
    elements = {{
      {v4}
    }}
  }}
  set private_v6 {{
    type ipv6_addr
    flags interval
    elements = {{
      {v6}
    }}
  }}
  chain output {{
    type filter hook output priority filter; policy accept;
    oifname "lo" accept
    ct state established,related accept
    tcp dport 25 counter reject with tcp reset comment "no SMTP on port 25"
    ip daddr {IMDS} tcp dport 80 meta skuid {{ 0, {worker_user} }} accept comment "IMDS: root and the worker only"
    ip daddr {{ {resolvers} }} meta l4proto {{ tcp, udp }} th dport 53 accept comment "VPC DNS resolver"
    ip daddr {AMAZON_NTP} udp dport 123 accept comment "Amazon Time Sync"
    udp sport 68 udp dport 67 accept comment "DHCP lease renewals"
    ip daddr {cidr} tcp dport 443 accept comment "VPC interface endpoints (SQS, KMS)"
    ip daddr @private_v4 counter reject with icmpx admin-prohibited comment "private and metadata ranges"
    ip6 daddr @private_v6 counter reject with icmpx admin-prohibited comment "private and link-local ranges"
  }}
}}
"""
