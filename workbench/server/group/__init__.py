"""Several stateless servers over one store: health for the load balancer, leases, batches spread over the group."""
