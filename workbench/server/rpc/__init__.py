"""The RPC layer: the zerorpc service, its limits, CURVE encryption and the zerorpc/zmq fixes."""
