# smtp-egress allowlist: region us, format terraform
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
# Save as smtp_egress_us.tf in your module and set var.smtp_egress_us_security_group_id.
# Aggregated blocks change shape when addresses are added or retired; for rules that are kept in place across changes, generate with --no-aggregate (one rule set per address).

variable "smtp_egress_us_security_group_id" {
  type        = string
  description = "The security group of your SMTP server (smtp-egress allowlist, region us)"
}

locals {
  smtp_egress_us_ipv4 = [
    "198.51.100.8/30",
    "198.51.100.20/32",
  ]
  smtp_egress_us_ipv6 = [
    "2001:db8::10/127",
    "2001:db8::20/128",
  ]
  smtp_egress_us_ports = [465, 587, 2525]
}

resource "aws_vpc_security_group_ingress_rule" "smtp_egress_us_ipv4" {
  for_each          = { for pair in setproduct(local.smtp_egress_us_ipv4, local.smtp_egress_us_ports) : "${pair[0]} tcp/${pair[1]}" => pair }
  security_group_id = var.smtp_egress_us_security_group_id
  cidr_ipv4         = each.value[0]
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  description       = "smtp-egress us"
}

resource "aws_vpc_security_group_ingress_rule" "smtp_egress_us_ipv6" {
  for_each          = { for pair in setproduct(local.smtp_egress_us_ipv6, local.smtp_egress_us_ports) : "${pair[0]} tcp/${pair[1]}" => pair }
  security_group_id = var.smtp_egress_us_security_group_id
  cidr_ipv6         = each.value[0]
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  description       = "smtp-egress us"
}
