# A process worth checkpointing: PID 1 of its namespaces, it listens on
# 127.0.0.1:5555, holds a connection to itself, and every 0.1 s sends its
# counter over the connection, reads it back on the other end and appends
# "<n> <n as received>" to the file given as argument.
import os
import socket
import sys
import time

os.closerange(3, 65536)
out = sys.argv[1]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 5555))
ls.listen(4)
cl = socket.create_connection(("127.0.0.1", 5555))
sv, _ = ls.accept()
n = 0
while True:
    n += 1
    cl.sendall(b"%d\n" % n)
    got = b""
    while not got.endswith(b"\n"):
        got += sv.recv(64)
    with open(out, "a") as f:
        f.write("%d %s\n" % (n, got.decode().strip()))
    time.sleep(0.1)
