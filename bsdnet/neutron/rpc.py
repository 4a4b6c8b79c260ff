"""Neutron's agent RPC over oslo.messaging, from the agent's side.

The calls and casts are the ones Neutron's own L2 agents make, with the
same topics, exchange and versions (neutron.agent.rpc,
neutron.api.rpc.handlers.securitygroups_rpc, the DHCP agent's plugin API):

  q-reports-plugin   report_state                        (state 1.4)
  q-plugin           get_devices_details_list_and_failed_devices,
                     update_device_list                  (ML2 1.9)
                     security_group_info_for_devices     (1.3)
                     get_network_info                    (DHCP 1.0)

They are written against oslo.messaging directly, with a request context
of its own (an admin context, as Neutron's agents send), so that nothing
reads Neutron's global configuration object: the agent's options are its
own ConfigOpts.

Casts from neutron-server arrive on the agent's topics (q-agent-notifier-
port-update, -port-delete, -network-update, -network-delete,
-security_group-update, -l2population-update, fanout, and the
l2population queue of this host) and go to the endpoint object given to
listen(); its methods must only queue work, never block.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from oslo_service import backend as _service_backend

# Threads, not eventlet (as neutron-server and Neutron's agents run now):
# chosen before oslo.messaging's server module loads oslo.service, whose
# default backend is eventlet's (with it, joining the agent's threads at
# exit never returns).
try:
    _service_backend.init_backend(_service_backend.BackendType.THREADING)
except _service_backend.exceptions.BackendAlreadySelected:  # by Neutron, in tests
    pass

import oslo_messaging  # noqa: E402
import oslo_messaging.opts  # noqa: E402
from oslo_context import context as oslo_context  # noqa: E402
from oslo_messaging._metrics import client as _metrics  # noqa: E402
from oslo_messaging._tracing import client as _tracing  # noqa: E402

LOG = logging.getLogger(__name__)

# Devices per call, as Neutron's agents chunk them (rpc_resources_processing_step).
STEP = 20
PLUGIN = "q-plugin"
REPORTS = "q-reports-plugin"
AGENT = "q-agent-notifier"
# Topic name parts, as neutron_lib.agent.topics spells them.
CASTS = (("port", "update"), ("port", "delete"), ("network", "update"),
         ("network", "delete"), ("security_group", "update"),
         ("l2population", "update"))
L2POP = f"{AGENT}-l2population-update"


class _Contexts(oslo_messaging.NoOpSerializer):
    """Request contexts as plain dicts both ways."""

    def serialize_context(self, ctxt: Any) -> dict[str, Any]:
        return dict(ctxt)

    def deserialize_context(self, ctxt: Any) -> Any:
        return ctxt


def admin_context() -> dict[str, Any]:
    ctx = oslo_context.RequestContext(is_admin=True, overwrite=False)
    return {**ctx.to_dict(), "user_id": None, "tenant_id": None,
            "timestamp": datetime.now(timezone.utc).isoformat()}


class Rpc:
    """Clients and consumers of one agent (host) on one transport."""

    def __init__(self, conf: Any, host: str, agent_id: str,
                 report_timeout: float,
                 observe: Callable[[str, float], None] | None = None) -> None:
        # neutron-server's exchange (Neutron sets it the same way).
        oslo_messaging.set_transport_defaults(control_exchange="neutron")
        for group, opts in oslo_messaging.opts.list_opts():
            conf.register_opts(opts, group=group)
        # Registered on the global configuration only, yet every call
        # reads them from ours (oslo.messaging's own conffixture registers
        # them the same way).
        conf.register_opts(_tracing.oslo_messaging_tracing,
                           group="oslo_messaging_tracing")
        conf.register_opts(_metrics.oslo_messaging_metrics,
                           group="oslo_messaging_metrics")
        self.transport = oslo_messaging.get_rpc_transport(conf)
        self.host = host
        self.agent_id = agent_id
        self.report_timeout = report_timeout
        self._ser = _Contexts()
        target = oslo_messaging.Target
        self._plugin = self._client(target(topic=PLUGIN, version="1.9"))
        self._dhcp = self._client(target(topic=PLUGIN, version="1.0"))
        self._sg = self._client(target(topic=PLUGIN, version="1.3"))
        self._state = self._client(target(topic=REPORTS, version="1.4"))
        self._self = self._client(target(topic=L2POP, server=host,
                                         version="1.0"))
        self._servers: list[Any] = []
        self._lock = threading.Lock()
        # RPC messages sent, and seconds waited for their answers, by
        # method: what a resync or a plug costs.
        self.calls: collections.Counter[str] = collections.Counter()
        self.waited: collections.Counter[str] = collections.Counter()
        self.observe = observe          # (method, seconds): metrics

    @property
    def context(self) -> dict[str, Any]:
        return admin_context()

    def _client(self, target: Any) -> Any:
        return oslo_messaging.get_rpc_client(self.transport, target,
                                             serializer=self._ser)

    def _call(self, client: Any, version: str, method: str,
              timeout: float | None = None, **kw: Any) -> Any:
        self.calls[method] += 1
        t0 = time.monotonic()
        try:
            return client.prepare(version=version, timeout=timeout).call(
                self.context, method, **kw)
        finally:
            dt = time.monotonic() - t0
            self.waited[method] += dt
            if self.observe is not None:
                self.observe(method, dt)

    # -- calls ---------------------------------------------------------------
    def report_state(self, state: dict[str, Any]) -> Any:
        state = {**state, "uuid": str(uuid.uuid4())}
        return self._call(self._state, "1.4", "report_state",
                          timeout=self.report_timeout,
                          agent_state={"agent_state": state},
                          time=datetime.now(timezone.utc).strftime(
                              "%Y-%m-%dT%H:%M:%S.%f"))

    def device_details(self, devices: Iterable[str],
                       progress: Callable[[int], None] | None = None
                       ) -> tuple[list[Any], list[str]]:
        """(details, failed) for these port ids; progress(n) after each
        chunk of n."""
        details: list[Any] = []
        failed: list[str] = []
        devices = list(devices)
        for i in range(0, len(devices), STEP):
            r = self._call(
                self._plugin, "1.5",
                "get_devices_details_list_and_failed_devices",
                devices=devices[i:i + STEP], agent_id=self.agent_id,
                host=self.host)
            details += r.get("devices") or []
            failed += r.get("failed_devices") or []
            if progress is not None:
                progress(len(devices[i:i + STEP]))
        return details, failed

    def update_devices(self, up: Iterable[str], down: Iterable[str],
                       refresh_tunnels: bool = False,
                       progress: Callable[[int], None] | None = None
                       ) -> list[str]:
        """Tell Neutron which ports are wired (ACTIVE) and which are gone
        (DOWN); returns the ids Neutron could not update.  progress(n)
        after each chunk of n."""
        up, down = list(up), list(down)
        failed: list[str] = []
        for i in range(0, max(len(up), len(down)), STEP):
            r = self._call(
                self._plugin, "1.9", "update_device_list",
                devices_up=up[i:i + STEP], devices_down=down[i:i + STEP],
                agent_id=self.agent_id, host=self.host,
                refresh_tunnels=refresh_tunnels)
            failed += (r.get("failed_devices_up") or []) + \
                (r.get("failed_devices_down") or [])
            if progress is not None:
                progress(len(up[i:i + STEP]) + len(down[i:i + STEP]))
        return failed

    def security_group_info(self, devices: Iterable[str]) -> dict[str, Any]:
        """Rules, remote members and per-device groups, merged over chunks."""
        out: dict[str, Any] = {"devices": {}, "security_groups": {},
                               "sg_member_ips": {}}
        devices = list(devices)
        for i in range(0, len(devices), STEP):
            r = self._call(
                self._sg, "1.3", "security_group_info_for_devices",
                devices=devices[i:i + STEP], call_version="1.3")
            for k in out:
                out[k].update(r.get(k) or {})
        return out

    def network_info(self, network_id: str) -> dict[str, Any] | None:
        """The network with every subnet (DHCP on or off), or None."""
        return self._call(self._dhcp, "1.0", "get_network_info",
                          network_id=network_id, enable_dhcp=None,
                          host=self.host)

    def mark(self, token: str) -> None:
        """A cast to this agent's own l2population queue: when it comes
        back, every l2population cast queued before it has been taken."""
        self.calls["bsdnet_sync_marker"] += 1
        self._self.prepare().cast(self.context, "bsdnet_sync_marker",
                                  token=token)

    # -- casts from the server -----------------------------------------------
    def listen(self, endpoint: Any) -> None:
        with self._lock:
            for topic, op in CASTS:
                # server=host: fanout casts, and casts to this host (the
                # l2population entries sent to it alone) reach it.
                srv = oslo_messaging.get_rpc_server(
                    self.transport,
                    oslo_messaging.Target(topic=f"{AGENT}-{topic}-{op}",
                                          server=self.host),
                    [endpoint], executor="threading", serializer=self._ser)
                # One worker per consumer: casts are taken in the order
                # sent (an fdb add and its remove must not swap).
                srv.start(override_pool_size=1)
                self._servers.append(srv)

    def close(self, timeout: float = 1.0) -> None:
        """Stop consuming (every consumer at once: each takes up to its
        poll's timeout) and close the connections, for at most timeout
        seconds; what is left then goes with the process."""
        with self._lock:
            servers, self._servers = self._servers, []

        def finish(s: Any) -> None:
            try:
                s.stop()
                s.wait()
            except Exception:
                LOG.debug("stopping an RPC server", exc_info=True)

        def close_all() -> None:
            threads = [threading.Thread(target=finish, args=(s,), daemon=True,
                                        name="rpc-close") for s in servers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.transport.cleanup()

        t = threading.Thread(target=close_all, daemon=True, name="rpc-close")
        t.start()
        t.join(timeout)
