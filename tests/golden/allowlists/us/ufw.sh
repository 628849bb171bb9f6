#!/bin/sh
# smtp-egress allowlist: region us, format ufw
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
# Run as root, the first time and after every change (each new file replaces the last):  sh <this file>
# It adds every listed block (ufw skips a rule it already has), then deletes the rules commented
# 'smtp-egress us' whose block is no longer listed: additions first, so a listed address never loses its
# rule. Other rules are left alone. Running it twice changes nothing the second time.
# 'ufw show added' lists the rules, whether or not ufw is enabled.
# Everything that changes the system is in main(), run by the last line: a file cut short changes nothing.
trap 'echo "error: this file is incomplete (cut short, e.g. by a failed download): nothing was changed; download it again" >&2; exit 1' EXIT
set -eu
comment='smtp-egress us'

main() {
  trap - EXIT # the whole file was read
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ufw allow proto tcp from 198.51.100.8/30 to any port 465,587,2525 comment 'smtp-egress us'
  ufw allow proto tcp from 198.51.100.20 to any port 465,587,2525 comment 'smtp-egress us'
  ufw allow proto tcp from 2001:db8::10/127 to any port 465,587,2525 comment 'smtp-egress us'
  ufw allow proto tcp from 2001:db8::20 to any port 465,587,2525 comment 'smtp-egress us'
  # delete our rules for blocks that are no longer listed (a single address: bare, /32 or /128)
  listed=' 198.51.100.8/30 198.51.100.20 2001:db8::10/127 2001:db8::20 '
  ufw show added >"$tmp/added"
  awk -v tail=" comment '$comment'" 'substr($0, length($0) - length(tail) + 1) == tail && $1 == "ufw" && $2 == "allow" && $3 == "from" { print $4 }' "$tmp/added" >"$tmp/ours"
  while read -r net; do
    case $listed in
    *" ${net%/32} "* | *" ${net%/128} "*) ;;
    *) ufw delete allow proto tcp from "$net" to any port 465,587,2525 ;;
    esac
  done <"$tmp/ours"
}

{ main "$@"; }
