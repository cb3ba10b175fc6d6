"""Hosts on their own network: a network namespace joined to this one by a veth link (iproute2, root only).

The chaos run puts a Triton instance in one, so it can be cut off the network without being killed: the link goes
down (its TCP peers see silence, not resets, as with a pulled cable or a dead switch port) and comes back up.
"""
from __future__ import annotations

import os
import subprocess
import zlib
from dataclasses import dataclass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class NetHost:
    namespace: str
    host_link: str
    address: str   # the namespace side; the host side is .1 of the same /30
    gateway: str

    @classmethod
    def for_service(cls, cluster_dir: str, service: str) -> "NetHost":
        """Names and a 10.x.y.z/30 subnet derived from the cluster directory and the service (stable per cluster)."""
        tag = zlib.crc32(f"{cluster_dir}/{service}".encode())
        subnet = (tag % (1 << 14)) * 4
        base = f"10.{200 + (subnet >> 16) % 50}.{(subnet >> 8) & 255}.{subnet & 255}"
        prefix = base.rsplit(".", 1)[0]
        last = int(base.rsplit(".", 1)[1])
        return cls(namespace=f"vomid-{tag:08x}", host_link=f"vh{tag:08x}", address=f"{prefix}.{last + 2}",
                   gateway=f"{prefix}.{last + 1}")

    @property
    def peer_link(self) -> str:
        return "vn" + self.host_link[2:]

    def exists(self) -> bool:
        return os.path.exists(f"/run/netns/{self.namespace}")

    def create(self) -> None:
        if self.exists():
            self.delete()
        _ip("netns", "add", self.namespace)
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.peer_link)
        _ip("link", "set", self.peer_link, "netns", self.namespace)
        _ip("addr", "add", f"{self.gateway}/30", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        _ip("-n", self.namespace, "addr", "add", f"{self.address}/30", "dev", self.peer_link)
        _ip("-n", self.namespace, "link", "set", self.peer_link, "up")
        _ip("-n", self.namespace, "link", "set", "lo", "up")

    def wrap(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def cut(self) -> None:
        _ip("link", "set", self.host_link, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_link, "up")

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)
