# SPDX-License-Identifier: MIT
"""The appliance's serial console as a screen: qemu's serial port on a unix
socket (-chardev socket,server=on,wait=off), its bytes fed to a terminal
emulator (pyte) of 80x24, the way an admin's terminal shows it.  A test
waits for text on the screen and types keys; on a timeout the exception
carries the screen.  Everything received is also kept raw in a log file.
"""
import re
import socket
import threading
import time

import pyte

KEYS = {
    "enter": b"\r", "esc": b"\x1b", "tab": b"\t", "backspace": b"\x7f",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "f1": b"\x1bOP", "ctrl-u": b"\x15",
}


class ScreenTimeout(Exception):
    pass


class SerialConsole:
    def __init__(self, path, log_path, columns=80, lines=24, connect_timeout=60):
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.log = open(log_path, "ab")
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                if not data:
                    self.closed = True
                    self.changed.notify_all()
                    return
                self.log.write(data)
                self.log.flush()
                self.stream.feed(data)
                self.changed.notify_all()

    def text(self):
        with self.lock:
            return "\n".join(line.rstrip() for line in self.screen.display)

    def wait(self, pattern, timeout=120):
        """Wait until the screen matches the regular expression; return the match."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                shown = "\n".join(line.rstrip() for line in self.screen.display)
                m = regex.search(shown)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    why = "the console closed" if self.closed else f"{timeout} s"
                    raise ScreenTimeout(f"no /{pattern}/ on the screen ({why}):\n{shown}")
                self.changed.wait(min(left, 1.0))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)
        time.sleep(0.05)

    def key(self, name, times=1):
        for _ in range(times):
            self.send(KEYS[name])

    def type_line(self, text):
        """A field's value then Enter."""
        self.send(text)
        self.key("enter")

    def close(self):
        try:
            self.sock.close()
        finally:
            self.log.close()
