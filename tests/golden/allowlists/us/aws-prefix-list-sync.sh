#!/bin/sh
# smtp-egress allowlist: region us, format aws-prefix-list-sync
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
# Create the prefix lists, and bring them to this list after every change (each new file replaces
# the last; keep only the newest):
#   sh aws-prefix-list-sync.sh [SECURITY_GROUP_ID] [aws options, e.g. --region us-east-1 --profile prod]
# It finds the prefix lists by name (smtp-egress-us-ipv4, -ipv6), creates a missing one, or
# modifies it with the entries to add and to remove against its current version (one request: the list
# never lacks a listed block); it grows MaxEntries first when the list needs more room. Running it twice
# changes nothing the second time. With a security group id it also adds, once, the group's inbound
# rules that reference each list on every SMTP port. Needs the aws CLI and ec2:DescribeManagedPrefixLists,
# ec2:GetManagedPrefixListEntries, ec2:CreateManagedPrefixList, ec2:ModifyManagedPrefixList (and, with a
# group, ec2:DescribeSecurityGroupRules and ec2:AuthorizeSecurityGroupIngress).
# Everything that changes the system is in main(), run by the last line: a file cut short changes nothing.
trap 'echo "error: this file is incomplete (cut short, e.g. by a failed download): nothing was changed; download it again" >&2; exit 1' EXIT
set -eu
LC_ALL=C
export LC_ALL
desc='smtp-egress us'
ports='465 587 2525'
group=

count() { awk 'END { print NR }' "$1"; }

# entries FILE [DESCRIPTION]: the blocks in FILE as a JSON list of prefix list entries
entries() {
  awk -v desc="${2:-}" 'BEGIN { printf "[" }
    { printf "%s{\"Cidr\":\"%s\"", (NR > 1 ? "," : ""), $1 }
    desc != "" { printf ",\"Description\":\"%s\"", desc }
    { printf "}" }
    END { printf "]" }' "$1"
}

# wait_complete PREFIX_LIST_ID STATE [aws options]: until its create or modify has finished
wait_complete() {
  pl=$1 state=$2
  shift 2
  tries=0
  while :; do
    case $state in
    *-complete) return 0 ;;
    *-failed) echo "prefix list $pl: $state" >&2; exit 1 ;;
    esac
    tries=$((tries + 1))
    [ "$tries" -le 60 ] || { echo "prefix list $pl is still $state after 120 s" >&2; exit 1; }
    sleep 2
    state=$(aws "$@" ec2 describe-managed-prefix-lists --prefix-list-ids "$pl" --query 'PrefixLists[0].State' --output text)
  done
}

# look_up NAME... [--] [aws options]: the prefix lists with these names (name, id, version, max entries) and,
# with a group, the group's inbound rules that reference a prefix list (id, port); one request each
look_up() {
  names=
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do names="${names:+$names,}$1"; shift; done
  shift
  aws "$@" ec2 describe-managed-prefix-lists --filters "Name=prefix-list-name,Values=$names" \
    --query 'PrefixLists[].[PrefixListName, PrefixListId, Version, MaxEntries]' --output text >"$tmp/lists"
  : >"$tmp/references"
  [ -z "$group" ] || aws "$@" ec2 describe-security-group-rules --filters "Name=group-id,Values=$group" \
    --query "SecurityGroupRules[?!IsEgress && IpProtocol=='tcp' && PrefixListId].[PrefixListId, FromPort]" \
    --output text >"$tmp/references"
}

# sync_list NAME FAMILY MAX_ENTRIES [aws options] <BLOCKS: creates the prefix list or brings it to BLOCKS
sync_list() {
  name=$1 family=$2 max=$3
  shift 3
  sort -u >"$tmp/want"
  awk -v name="$name" '$1 == name { print $2, $3, $4 }' "$tmp/lists" >"$tmp/found"
  if [ "$(count "$tmp/found")" -gt 1 ]; then
    echo "$(count "$tmp/found") prefix lists are named $name: keep one (this script finds it by its name)" >&2
    exit 1
  elif [ "$(count "$tmp/found")" -eq 0 ]; then
    aws "$@" ec2 create-managed-prefix-list --prefix-list-name "$name" --address-family "$family" \
      --max-entries "$max" --entries "$(entries "$tmp/want" "$desc")" \
      --query 'PrefixList.[PrefixListId, State]' --output text >"$tmp/created"
    read -r pl state <"$tmp/created"
    wait_complete "$pl" "$state" "$@"
    echo "$name: created $pl with $(count "$tmp/want") entries (MaxEntries $max)"
  else
    read -r pl version current_max <"$tmp/found"
    aws "$@" ec2 get-managed-prefix-list-entries --prefix-list-id "$pl" --query 'Entries[].Cidr' --output text >"$tmp/raw"
    awk '{ for (i = 1; i <= NF; i++) print $i }' "$tmp/raw" | sort -u >"$tmp/have"
    comm -23 "$tmp/want" "$tmp/have" >"$tmp/add"
    comm -13 "$tmp/want" "$tmp/have" >"$tmp/remove"
    if [ ! -s "$tmp/add" ] && [ ! -s "$tmp/remove" ]; then
      echo "$name: $pl is up to date (version $version, $(count "$tmp/want") entries)"
    else
      if [ "$(count "$tmp/want")" -gt "$current_max" ]; then
        # a resize and a change of entries cannot share one request
        state=$(aws "$@" ec2 modify-managed-prefix-list --prefix-list-id "$pl" --prefix-list-name "$name" \
          --max-entries "$max" --query PrefixList.State --output text)
        wait_complete "$pl" "$state" "$@"
        echo "$name: MaxEntries $current_max -> $max"
        version=$(aws "$@" ec2 describe-managed-prefix-lists --prefix-list-ids "$pl" \
          --query 'PrefixLists[0].Version' --output text)
      fi
      state=$(modify "$pl" "$name" "$version" "$@")
      wait_complete "$pl" "$state" "$@"
      echo "$name: $pl +$(count "$tmp/add") -$(count "$tmp/remove") entries (was version $version)"
    fi
  fi
  [ -z "$group" ] || reference "$pl" "$@"
}

# modify PREFIX_LIST_ID NAME VERSION [aws options]: adds and removes entries in one request, against VERSION;
# prints the list's state
modify() {
  pl=$1 name=$2 version=$3
  shift 3
  set -- "$@" ec2 modify-managed-prefix-list --prefix-list-id "$pl" --prefix-list-name "$name" \
    --current-version "$version"
  [ ! -s "$tmp/add" ] || set -- "$@" --add-entries "$(entries "$tmp/add" "$desc")"
  [ ! -s "$tmp/remove" ] || set -- "$@" --remove-entries "$(entries "$tmp/remove")"
  aws "$@" --query PrefixList.State --output text
}

# reference PREFIX_LIST_ID [aws options]: the group allows the prefix list on each SMTP port
reference() {
  pl=$1
  shift
  for port in $ports; do
    if ! awk -v pl="$pl" -v port="$port" '$1 == pl && $2 == port { found = 1 } END { exit !found }' "$tmp/references"
    then
      aws "$@" ec2 authorize-security-group-ingress --group-id "$group" --ip-permissions \
        "[{\"IpProtocol\":\"tcp\",\"FromPort\":$port,\"ToPort\":$port,\"PrefixListIds\":[{\"PrefixListId\":\"$pl\",\"Description\":\"$desc\"}]}]" >/dev/null
      echo "security group $group: allows $pl on tcp/$port"
    fi
  done
}

main() {
  trap - EXIT # the whole file was read
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  case ${1:-} in
  sg-*) group=$1; shift ;;
  esac
  look_up smtp-egress-us-ipv4 smtp-egress-us-ipv6 -- "$@"
  sync_list smtp-egress-us-ipv4 IPv4 4 "$@" <<'EOF'
198.51.100.8/30
198.51.100.20/32
EOF
  sync_list smtp-egress-us-ipv6 IPv6 4 "$@" <<'EOF'
2001:db8::10/127
2001:db8::20/128
EOF
}

{ main "$@"; }
