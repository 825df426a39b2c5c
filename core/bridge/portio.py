"""What both ports' BridgeIO (ports/*/bridge_io.py) do alike with their connections.

A subclass holds ups: one object per Link, with .link and start(target, now) (begin
connecting to the (host, port) the link asked for), poll(now) (its own timers, then
sync), wait_ms(now) (ms until it needs poll, or None), sync(now) (write what the link
queued, close when it asks) and close(); made as cls(link, io, ctx, probe): with probe
True it only tries a TCP connect and tells the link (link.probed(now, ok)), then closes;
an up's .prober is the last such one (Link.probe())."""


class PortIO:
    """The loop's calls that are the same on both ports (poll, wait_ms, pump)."""

    def poll(self, now):
        """Each loop pass: timers, connections to open or close, bytes to write."""
        for u in self.ups:
            a = u.link.poll(now)
            if a is not None:
                u.start(a, now)
            u.poll(now)
            a = u.link.probe(now)
            if a is not None:  # is the main address back? (round_robin false)
                if u.prober is not None:
                    u.prober.close()  # the last try got no answer in all that time
                u.prober = u.__class__(u.link, self, None, True)
                u.prober.start(a, now)
            if u.prober is not None:
                u.prober.poll(now)

    def wait_ms(self, now):
        """Milliseconds the loop may wait before poll() is due, or None."""
        w = None
        for u in self.ups:
            x = u.wait_ms(now)
            if x is not None and (w is None or x < w):
                w = x
        return w

    def close_probers(self):
        """At shutdown: the connects to main addresses (Link.probe()) end."""
        for u in self.ups:
            if u.prober is not None:
                u.prober.close()

    def pump(self, now):
        """The broker's output to the bridges' local sides goes upstream."""
        for u in self.ups:
            u.link.pump()
            u.sync(now)
