"""``workbench-server``: start the Workbench server (zerorpc on gevent) over a data store."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import signal
import sys


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; None means 'not given', so config.ini and env values stand."""
    parser = argparse.ArgumentParser(prog="workbench-server", description=__doc__)
    parser.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 4242)")
    parser.add_argument("--datastore", help="sqlite:///path/to/workbench.db or mongodb://host:port/db")
    parser.add_argument("--config", help="config.ini to read (default: ./config.ini, then the source tree's)")
    parser.add_argument("--plugin-dir", action="append", default=[], help="extra worker folder (repeatable)")
    parser.add_argument("--procs", help="worker processes: 'auto' (one per core) or a number; 0 runs chains "
                                        "in the server process")
    parser.add_argument("--health-port", type=int, help="serve GET /health for a load balancer on this port")
    parser.add_argument("--group-address", help="the load balancer's address (tcp://host:port) of this server's group")
    parser.add_argument("--server-name", help="this server's name in its group (default: hostname:port)")
    parser.add_argument("--web-port", type=int, help="serve the web view on this port too (default: off)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse options, then serve until SIGINT or SIGTERM."""
    from gevent import monkey

    monkey.patch_all()  # before pymongo and friends are imported: its threads must be cooperative
    from workbench.config import load_config
    from workbench.exceptions import WorkbenchError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        config = load_config(args.config)
        config.set("server", "bind", args.bind)
        config.set("server", "port", args.port)
        config.set("server", "datastore", args.datastore)
        config.set("server", "procs", args.procs)
        config.set("server", "health_port", args.health_port)
        config.set("server", "group_address", args.group_address)
        config.set("server", "server_name", args.server_name)
        config.set("server", "web_port", args.web_port)
        if args.plugin_dir:
            given = [d for d in config.get("server", "plugin_dirs").split(",") if d.strip()]
            config.set("server", "plugin_dirs", ",".join(given + args.plugin_dir))
        run_server(config)
    except WorkbenchError as exc:
        print(f"workbench-server: {exc}", file=sys.stderr)
        return 2
    return 0


def run_server(config) -> None:  # noqa: ANN001 - workbench.config.Config, imported after patch_all
    """Build the service, bind, serve; stop cleanly on SIGINT/SIGTERM."""
    import gevent
    import zmq

    from workbench.server.rpc import curve_auth, zerorpc_compat
    from workbench.server.rpc.port_check import check_port_free
    from workbench.server.rpc.rpc_limits import HARD_CEILING_FACTOR
    from workbench.server.rpc.rpc_service import ApiServer, WorkbenchRPC
    from workbench.server.rpc.zmq_context import OptionsContext
    from workbench.server.workbench import Workbench

    zerorpc_compat.apply()
    log = logging.getLogger("workbench.server")
    bind, port = config.get("server", "bind"), config.get("server", "port")
    curve_options, keys_dir = curve_auth.server_options(config)  # key errors surface before anything starts
    check_port_free(bind, port)  # before the store is created: a busy port leaves nothing behind
    workbench = Workbench(config)
    max_message = config.get("server", "max_message_mb") * 2**20
    context = OptionsContext({zmq.MAXMSGSIZE: HARD_CEILING_FACTOR * max_message, **curve_options})
    auth = curve_auth.ZapAuthenticator(context, keys_dir) if keys_dir else None  # before bind: no gap
    server = ApiServer(WorkbenchRPC(workbench), context=context, heartbeat=5,
                       max_inflight_per_client=config.get("server", "max_inflight_per_client"),
                       max_message_bytes=max_message,
                       key_allowed=auth.is_allowed if auth else None)
    endpoint = f"tcp://{bind}:{port}"
    server.bind(endpoint)
    if auth is None and not _is_loopback(bind):
        log.warning("listening on %s without CURVE authentication: anyone who can reach it can use it", bind)

    def reload_workers() -> None:
        while True:
            gevent.sleep(1.0)
            try:
                workbench.plugins.refresh()
                if auth is not None:
                    auth.refresh()
            except Exception:  # a broken plugin or keys folder must not stop the reloader
                log.exception("worker or key reload failed")

    reloader = gevent.spawn(reload_workers)
    background = [reloader]
    if config.get("server", "group_address"):
        background.append(gevent.spawn(_stay_in_group, workbench, log))
    health = None
    if config.get("server", "health_port"):
        from workbench.server.group.health import start_health_server

        health = start_health_server(bind, config.get("server", "health_port"), workbench.health)
    from workbench.server.web.serve import start_web

    web = start_web(config, workbench, curve_on=auth is not None)

    def stop(*_: object) -> None:
        log.info("stopping")
        gevent.killall(background, block=False)
        if health is not None:
            health.stop(timeout=1)
        if web is not None:
            web.close()  # stop accepting; requests in flight finish
        server.stop()

    gevent.signal_handler(signal.SIGTERM, stop)
    gevent.signal_handler(signal.SIGINT, stop)
    log.info("listening on %s, datastore %s, %d worker processes, CURVE %s", endpoint, workbench.store.uri,
             workbench.procs, f"on (authorized keys in {keys_dir})" if auth else "off")
    print(f"workbench-server listening on {endpoint}", flush=True)
    # Everything built so far lives as long as the server: out of the collector's sight, a full collection no
    # longer walks it (measured, issue 17: 60 ms collections stalled every client during a 1M cached batch).
    gc.collect()
    gc.freeze()
    try:
        server.run()
    finally:
        gc.unfreeze()
        server.close()
        if auth is not None:
            auth.close()
        workbench.close()
        log.info("stopped")


def _stay_in_group(workbench, log: logging.Logger) -> None:  # noqa: ANN001 - Workbench, imported late
    """Tell the store every 2 s that this server is alive, so ``info()`` on any server lists the group."""
    import gevent

    while True:
        try:
            workbench.register_in_group()
        except Exception:  # the store hiccuping must not stop the server
            log.exception("could not register in the group")
        gevent.sleep(2.0)


def _is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
