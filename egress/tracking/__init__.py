"""Open and click tracking on customers' branded domains: signed tokens, the link rewriter, and the events
recorded by ``egress tracking serve``."""
