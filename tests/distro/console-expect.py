#!/usr/bin/python3
"""Talk to a context's console through python-libvirt's stream API:

    console-expect.py URI DOMAIN SECONDS [SEND EXPECT]...

Connects (forcing any other session off), then for each pair writes SEND
(with \\r appended; an empty SEND writes just \\r) and reads until EXPECT
appears, each within SECONDS.  Prints what the console showed; exit 0
when every EXPECT was seen, 1 otherwise."""
import sys
import threading
import time

import libvirt

uri, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
pairs = list(zip(sys.argv[4::2], sys.argv[5::2]))

libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)],
                 daemon=True).start()
libvirt.registerErrorHandler(lambda ctx, err: None, None)

conn = libvirt.open(uri)
dom = conn.lookupByName(name)
st = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
dom.openConsole(None, st, libvirt.VIR_DOMAIN_CONSOLE_FORCE)

seen = b""
lock = threading.Condition()


def on_data(stream, events, opaque):
    global seen
    if events & libvirt.VIR_STREAM_EVENT_READABLE:
        try:
            data = stream.recv(4096)
        except libvirt.libvirtError:
            return
        if isinstance(data, bytes) and data:
            with lock:
                seen += data
                lock.notify_all()


st.eventAddCallback(libvirt.VIR_STREAM_EVENT_READABLE, on_data, None)

ok = True
for send, expect in pairs:
    start = len(seen)
    st.send((send + "\r").encode())
    deadline = time.monotonic() + seconds
    with lock:
        while expect.encode() not in seen[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                ok = False
                break
            lock.wait(left)
    if not ok:
        break

sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.flush()
try:
    st.eventRemoveCallback()
    st.finish()
except libvirt.libvirtError:
    pass
sys.exit(0 if ok else 1)
