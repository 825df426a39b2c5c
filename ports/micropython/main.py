"""MicroPython entry: `micropython ports/micropython/main.py [-c FILE] [-p PORT] [-v] [-h]`.

On a board (esp32, rp2) this file is /main.py: it runs at boot and board.py reads
/broker.conf and /network.json, brings up Wi-Fi and serves. On the unix port unix.py does
the same without the network bring-up. Kept tiny: a board compiles this file from source
at every boot and keeps its code on the heap while the broker runs; the other modules
ship as .mpy.
"""

import sys

# The receive buffer comes first: after the imports the heap is too fragmented to find it
# in one piece on a 96 KB heap. Its size is defined on this line alone: the tools and tests
# that start the port as a board does copy the line (tools/deploy.py RECV_LINE). A read
# takes at most this much, so a burst enters at the pace its receivers take it (the rest
# waits in the sender's and lwIP's buffers, not on the heap): README, Memory.
_buf = bytearray(512)

if sys.platform in ("esp32", "rp2"):
    import board  # / and /lib (and /rom with ROMFS) are on sys.path already
    board.main(_buf)
else:
    import unix  # this file's folder is sys.path[0]
    sys.exit(unix.main(sys.argv[1:], _buf))
