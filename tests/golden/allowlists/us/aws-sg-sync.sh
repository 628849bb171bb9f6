#!/bin/sh
# smtp-egress allowlist: region us, format aws-sg-sync
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
# Apply to your SMTP server's security group, the first time and after every change (each new file
# replaces the last; keep only the newest):
#   sh aws-sg-sync.sh SECURITY_GROUP_ID [aws options, e.g. --region us-east-1 --profile prod]
# It reads the group's inbound rules, adds each listed (block, TCP port) rule the group lacks, then
# revokes the rules described 'smtp-egress us' whose block is no longer listed (additions first: a
# listed address never loses its rule). Other rules are left alone. Running it twice changes nothing
# the second time. Needs the aws CLI and ec2:DescribeSecurityGroupRules, ec2:AuthorizeSecurityGroupIngress
# and ec2:RevokeSecurityGroupIngress. Aggregated blocks that change shape are handled the same way: the
# new blocks' rules are added before the old ones are revoked.
# Everything that changes the system is in main(), run by the last line: a file cut short changes nothing.
trap 'echo "error: this file is incomplete (cut short, e.g. by a failed download): nothing was changed; download it again" >&2; exit 1' EXIT
set -eu
LC_ALL=C
export LC_ALL
desc='smtp-egress us'
ports='465 587 2525'
group=

count() { awk 'END { print NR }' "$1"; }

# sync_group [aws options] <LISTED: brings the group's inbound rules to the listed "block port" lines
sync_group() {
  sort -u >"$tmp/want"
  # the group's inbound TCP rules: block, port, rule id, description (to a file: a failed call stops here)
  aws "$@" ec2 describe-security-group-rules --filters "Name=group-id,Values=$group" \
    --query "SecurityGroupRules[?!IsEgress && IpProtocol=='tcp' && FromPort==ToPort].[CidrIpv4 || CidrIpv6, FromPort, SecurityGroupRuleId, Description || '']" \
    --output text >"$tmp/rules"
  awk -F '\t' '{ print $1 " " $2 }' "$tmp/rules" | sort -u >"$tmp/have"
  # to add: listed and not allowed by any rule (ours or yours); to remove: ours and no longer listed
  comm -23 "$tmp/want" "$tmp/have" >"$tmp/add"
  awk -F '\t' -v desc="$desc" 'NR == FNR { want[$0] = 1; next }
    $4 == desc && !(($1 " " $2) in want) { print $1, $2, $3 }' "$tmp/want" "$tmp/rules" >"$tmp/remove"
  # one request for every addition, then one for every removal: each is all or nothing
  if [ -s "$tmp/add" ]; then
    perms=$(awk -v desc="$desc" 'BEGIN { printf "[" } {
      family = index($1, ":") ? "\"Ipv6Ranges\":[{\"CidrIpv6\"" : "\"IpRanges\":[{\"CidrIp\""
      printf "%s{\"IpProtocol\":\"tcp\",\"FromPort\":%s,\"ToPort\":%s,%s:\"%s\",\"Description\":\"%s\"}]}",
        (NR > 1 ? "," : ""), $2, $2, family, $1, desc
    } END { printf "]" }' "$tmp/add")
    aws "$@" ec2 authorize-security-group-ingress --group-id "$group" --ip-permissions "$perms" >/dev/null
    awk '{ print "added " $1 " tcp/" $2 }' "$tmp/add"
  fi
  if [ -s "$tmp/remove" ]; then
    aws "$@" ec2 revoke-security-group-ingress --group-id "$group" \
      --security-group-rule-ids $(awk '{ print $3 }' "$tmp/remove") >/dev/null
    awk '{ print "removed " $1 " tcp/" $2 " (" $3 ")" }' "$tmp/remove"
  fi
  echo "security group $group: $(count "$tmp/add") rules added, $(count "$tmp/remove") removed, $(count "$tmp/want") listed ($desc)"
}

main() {
  trap - EXIT # the whole file was read
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  case ${1:-} in
  sg-*) group=$1; shift ;;
  *) echo "usage: sh aws-sg-sync.sh SECURITY_GROUP_ID [aws options]" >&2; exit 2 ;;
  esac
  sync_group "$@" <<'EOF'
198.51.100.8/30 465
198.51.100.8/30 587
198.51.100.8/30 2525
198.51.100.20/32 465
198.51.100.20/32 587
198.51.100.20/32 2525
2001:db8::10/127 465
2001:db8::10/127 587
2001:db8::10/127 2525
2001:db8::20/128 465
2001:db8::20/128 587
2001:db8::20/128 2525
EOF
}

{ main "$@"; }
