# smtp-egress allowlist: region us, format exchange-online
# generated_at: 2027-01-01T12:00:00Z
# as_of: 2026-11-26 (UTC day); published list sync_token 1795597200, sha256 c4d09b14280c65956d0b254a3056e60b0512f43c2307cc83359b5d8cf993fd46
# plan: plan.yaml sha256 8b2fd096970e3d82c9a9bea8fab1e247accf6ee20312eff40045fa244655fdc3
# content: live addresses and announced upcoming additions; planned changes not yet announced are never included
# live: 7 addresses in the published list
# upcoming additions: 1 (allow each before it starts sending)
#   + 198.51.100.11 starts sending 2026-12-10 (announced 2026-11-25T09:00:00Z)
#   - 198.51.100.10 stays live until 2026-12-20 (announced retirement): remove it from then on
# aggregated: 8 addresses in 4 exact CIDR blocks (no address outside the list)
# warning: Exchange Online inbound connectors accept IPv4 only: 2 IPv6 block(s) left out (2001:db8::10/127, 2001:db8::20/128); mail from them will not match this connector
#
# Run after Connect-ExchangeOnline: .\exchange-online.ps1 -Identity "Connector name"
# Add= keeps the connector's other addresses.
param([Parameter(Mandatory = $true)][string]$Identity)

Set-InboundConnector -Identity $Identity -SenderIPAddresses @{Add="198.51.100.8/30","198.51.100.20"}
