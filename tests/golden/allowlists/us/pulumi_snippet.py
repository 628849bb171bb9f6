# smtp-egress allowlist: region us, format pulumi
# generated_at: 2027-01-01T12:00:00Z
# as_of: 2026-11-26 (UTC day); published list sync_token 1795597200, sha256 c4d09b14280c65956d0b254a3056e60b0512f43c2307cc83359b5d8cf993fd46
# plan: plan.yaml sha256 8b2fd096970e3d82c9a9bea8fab1e247accf6ee20312eff40045fa244655fdc3
# content: live addresses and announced upcoming additions; planned changes not yet announced are never included
# live: 7 addresses in the published list
# upcoming additions: 1 (allow each before it starts sending)
#   + 198.51.100.11 starts sending 2026-12-10 (announced 2026-11-25T09:00:00Z)
#   - 198.51.100.10 stays live until 2026-12-20 (announced retirement): remove it from then on
# aggregated: 8 addresses in 4 exact CIDR blocks (no address outside the list)
#
# Save as smtp_egress_us.py next to __main__.py, then: allow_smtp_egress_us(security_group.id)
# Aggregated blocks change shape when addresses are added or retired; for rules that are kept in place across changes, generate with --no-aggregate (one rule set per address).
import pulumi_aws as aws

SMTP_EGRESS_US_IPV4 = ["198.51.100.8/30", "198.51.100.20/32"]
SMTP_EGRESS_US_IPV6 = ["2001:db8::10/127", "2001:db8::20/128"]
SMTP_EGRESS_US_PORTS = [465, 587, 2525]


def allow_smtp_egress_us(security_group_id, opts=None):
    """One ingress rule per (block, port) on the security group of your SMTP server (region us)."""
    rules = []
    for cidr in SMTP_EGRESS_US_IPV4 + SMTP_EGRESS_US_IPV6:
        family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}
        for port in SMTP_EGRESS_US_PORTS:
            name = "smtp-egress-us-" + cidr.replace("/", "-").replace(":", "-") + f"-{port}"
            rules.append(aws.vpc.SecurityGroupIngressRule(
                name, security_group_id=security_group_id, ip_protocol="tcp", from_port=port, to_port=port,
                description="smtp-egress us", opts=opts, **family))
    return rules
