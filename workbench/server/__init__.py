"""The Workbench server, grouped along the request path: rpc -> planning -> execution -> data_store."""
