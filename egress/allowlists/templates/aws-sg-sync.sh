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
