"""The zones of the DNS checks' tests: one name per diagnosis. The platform's hosts live in platform.test."""

from __future__ import annotations

TRACK = "track.us.platform.test."
MX = "mx.us.platform.test."
TRACK_V4, TRACK_V6 = "192.0.2.10", "2001:db8::10"

ZONES = {
    "platform.test": f"""
track.us A {TRACK_V4}
track.us AAAA {TRACK_V6}
mx.us A 192.0.2.25
""",
    "cust.test": f"""
ns A 127.0.0.1
ok CNAME {TRACK}
Case CNAME TRACK.US.Platform.Test.
elsewhere CNAME landing.other.test.
links.cust.test CNAME {TRACK}
proxied A 104.16.1.1
proxied AAAA 2606:4700::6810:101
flat A {TRACK_V4}
flat AAAA {TRACK_V6}
plain A 198.51.100.7
chain CNAME hop1
hop1 CNAME hop2.cust.test.
hop2 CNAME {TRACK}
appended CNAME track.us.platform.test
text TXT "no cname here"
tobroken CNAME x.broken.test.
many A 198.51.100.1
"""
    + "".join(f"many A 198.51.100.{i}\n" for i in range(2, 60))
    + f"""
b1.mail MX 10 {MX}
b2.mail MX 0 .
b3.mail MX 10 mxalias
mxalias CNAME {MX}
b4.mail MX 10 mail.other.test.
b6.mail MX 20 {MX}
b6.mail MX 10 backup.other.test.
b7.mail CNAME b1.mail
""",
    "wild.test": f"""
* CNAME landing.other.test.
*.mail MX 10 {MX}
*.tracked CNAME {TRACK}
""",
    "wilda.test": "* A 198.51.100.9\n",
    "apex.test": f"@ CNAME {TRACK}\n",
    "xn--bcher-kva.test": f"links CNAME {TRACK}\n",
    "multi.test": f"""
@ NS ns1.multi.test.
@ NS ns2.multi.test.
ns1 A 127.0.0.21
ns2 A 127.0.0.22
links CNAME {TRACK}
b1.mail MX 10 {MX}
""",
}
# The second server of multi.test (127.0.0.22) is behind: links is not there yet.
MULTI_BEHIND = {
    "multi.test": f"""
@ NS ns1.multi.test.
@ NS ns2.multi.test.
ns1 A 127.0.0.21
ns2 A 127.0.0.22
b1.mail MX 10 {MX}
""",
}
BROKEN = ("broken.test",)
